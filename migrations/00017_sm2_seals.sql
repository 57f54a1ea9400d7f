-- +goose Up
-- Seals of the national algorithms: an SM2 key, an SM2 certificate from the SM2 root (row 2
-- of seal_ca, which also makes the seals' GB/T 38540 data and numbers the SM2 CRL), and
-- GB/T 38540 electronic signatures in the PDFs they seal.
ALTER TABLE seals DROP CONSTRAINT seals_key_alg_check;
ALTER TABLE seals ADD CONSTRAINT seals_key_alg_check CHECK (key_alg IN ('ecdsa-p256', 'rsa-3072', 'sm2', 'imported'));
-- An SM2 seal whose GB/T 38540 seal data another vendor's seal maker made, imported with its
-- signer's key: the digest of that SES_Seal. Its chain_der holds the certificates the seal
-- administrator trusted on import (the signer's issuers and the maker's certificate).
ALTER TABLE seals ADD COLUMN imported_seal_data text;

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
