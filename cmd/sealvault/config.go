package main

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/gommon/bytes"
	"github.com/spf13/pflag"

	"sealvault/seal"
	"sealvault/seal/keys"
	"sealvault/seal/sealimage"
)

// Config is every setting of sealvault. Each comes from a flag, else from its SEALVAULT_*
// environment variable (or, for secrets, a file named by the variable with _FILE appended),
// else from its default.
type Config struct {
	Listen          string
	DatabaseURL     string
	DataDir         string
	PGPort          int
	PGDir           string
	Migrate         bool
	Demo            bool
	TokenIssuer     string
	TokenAudience   string
	TokenTTL        time.Duration
	LoginMaxFails   int
	LoginWindow     time.Duration
	TokenKeyDir     string
	SSOIssuer       string
	SSOAudience     string
	SSOJWKSFile     string
	BodyLimit       string
	TrustedProxies  []string
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	SessionIdle     time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string
	DBMaxConns      int
	DBTimeout       time.Duration
	DBExportTimeout time.Duration

	AuditOrigin             string
	AuditKeyDir             string
	AuditCheckpointDir      string
	AuditCheckpointEvery    int64
	AuditCheckpointInterval time.Duration
	AuditIntegrateInterval  time.Duration

	HolderKey string
	SealKEK   string
	// PKCS11 selects a PKCS#11 token for the seal, CA and TSA keys (empty module: software
	// custody under SealKEK alone).
	PKCS11Module, PKCS11Token, PKCS11PINFile string
	CAName                                   string
	UploadLimit                              string
	// HolidayCalendar is a holiday calendar file replacing the shipped one.
	HolidayCalendar string
	// SealFont is the CJK font seal images are drawn with.
	SealFont string
	// SignerTTL is how long an unwrapped seal key is kept for the seal's next applications.
	SignerTTL time.Duration
	// SealAlgorithm is the key algorithm of a seal filed without one.
	SealAlgorithm string
	// TSAPolicy is the policy OID the timestamping authority's tokens name.
	TSAPolicy string
	// PublicURL is the public base address the QR codes on stamps name.
	PublicURL string
	// TSAAccuracy is the accuracy its tokens state.
	TSAAccuracy time.Duration
	// ForeignDataDir allows state to be made in a --data-dir that does not look like a
	// sealvault data directory.
	ForeignDataDir bool

	BlobStore         string
	BlobDir           string
	S3Endpoint        string
	S3Insecure        bool
	S3Region          string
	S3AccessKey       string
	S3SecretKey       string
	S3Bucket          string
	S3Prefix          string
	S3SpoolDir        string
	S3DisableChecksum bool
}

// secretAnnotation marks flags whose value may come from a file (SEALVAULT_X_FILE).
const secretAnnotation = "sealvault_secret"

// bindFlags registers every setting on fs.
func (c *Config) bindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address the HTTP server listens on")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; empty starts the project-local cluster in the pg directory under --data-dir")
	fs.StringVar(&c.DataDir, "data-dir", "var", "directory for local state: PostgreSQL cluster, keys, blobs; a relative one is resolved against the current directory and printed at start")
	fs.BoolVar(&c.ForeignDataDir, "foreign-data-dir", false, "make state in --data-dir even though it does not look like a sealvault data directory (it exists, is not empty, and holds none of pg, keys, blobs, audit, testpg)")
	fs.IntVar(&c.PGPort, "pg-port", 55432, "port of the project-local PostgreSQL cluster (loopback only); 0 picks a free one (a running cluster keeps its own)")
	fs.StringVar(&c.PGDir, "pg-dir", "", "data directory of the project-local PostgreSQL cluster, for serve and localdb alike (empty: pg under --data-dir)")
	fs.BoolVar(&c.Migrate, "migrate", true, "apply pending database migrations when serve starts")
	fs.BoolVar(&c.Demo, "demo", false, "seed demo departments and accounts (idempotent) and print the logins")
	fs.StringVar(&c.TokenIssuer, "token-issuer", "sealvault", "iss claim of access tokens")
	fs.StringVar(&c.TokenAudience, "token-audience", "sealvault-api", "aud claim of access tokens")
	fs.DurationVar(&c.TokenTTL, "token-ttl", 15*time.Minute, "lifetime of an access token (1m–24h)")
	fs.IntVar(&c.LoginMaxFails, "login-max-failures", 10, "failed logins for one username within --login-failure-window after which logins wait (429)")
	fs.DurationVar(&c.LoginWindow, "login-failure-window", 15*time.Minute, "the window failed logins are counted in")
	fs.StringVar(&c.TokenKeyDir, "token-key-dir", "", "directory of the Ed25519 token signing keys (empty: keys/jwt under --data-dir)")
	fs.StringVar(&c.SSOIssuer, "sso-issuer", "", "iss of an external identity provider whose tokens are accepted (subject = username)")
	fs.StringVar(&c.SSOAudience, "sso-audience", "", "aud the external identity provider's tokens must carry")
	fs.StringVar(&c.SSOJWKSFile, "sso-jwks-file", "", "JWKS file with the external identity provider's public keys (EdDSA or ES256)")
	fs.StringVar(&c.BodyLimit, "body-limit", "1M", "largest request body accepted (413 beyond it), e.g. 512K, 1M")
	fs.StringSliceVar(&c.TrustedProxies, "trusted-proxies", nil, "CIDRs of reverse proxies whose X-Forwarded-For is trusted; empty trusts none")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 30*time.Second, "HTTP read timeout (whole request)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 60*time.Second, "HTTP write timeout")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 120*time.Second, "HTTP keep-alive idle timeout")
	fs.DurationVar(&c.SessionIdle, "session-idle-timeout", 30*time.Minute, "a workbench session ends after this long without a request")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long shutdown waits for in-flight requests")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", 10, "largest number of database connections")
	fs.DurationVar(&c.DBTimeout, "db-timeout", 5*time.Second, "how long one API request may wait for the database in all; beyond it the answer is 503 database-unavailable")
	fs.DurationVar(&c.DBExportTimeout, "db-export-timeout", 5*time.Minute, "--db-timeout of the exports: audit export, reports, issuing a checkpoint")
	fs.StringVar(&c.AuditOrigin, "audit-origin", "sealvault/audit", "name of the audit log in its signed checkpoints (e.g. the center's domain + /audit)")
	fs.StringVar(&c.AuditKeyDir, "audit-key-dir", "", "directory of the checkpoint signing key audit-note.key and its public audit-note.pub (empty: keys under --data-dir)")
	fs.StringVar(&c.AuditCheckpointDir, "audit-checkpoint-dir", "", "directory outside the database where every signed checkpoint is also written (empty: audit/checkpoints under --data-dir)")
	fs.Int64Var(&c.AuditCheckpointEvery, "audit-checkpoint-every", 1000, "sign a checkpoint after this many new audit events")
	fs.DurationVar(&c.AuditCheckpointInterval, "audit-checkpoint-interval", time.Minute, "sign a checkpoint at least this often while events arrive")
	fs.DurationVar(&c.AuditIntegrateInterval, "audit-integrate-interval", 500*time.Millisecond, "how often committed audit events are sequenced into the tree")
	fs.StringVar(&c.HolderKey, "holder-key", "", "64 random bytes, base64: HMAC key (lookup) + AES-256 key (encryption) for holder numbers (empty: made on first start in keys/holder.key under --data-dir)")
	fs.StringVar(&c.SealKEK, "seal-kek", "", "32 random bytes, base64: AES-256 key-encryption key of the seal and CA private keys (empty: made on first start in keys/seal-kek.key under --data-dir)")
	fs.StringVar(&c.PKCS11Module, "pkcs11-module", "", "PKCS#11 module library of the hardware security module holding the seal, CA and timestamping keys, e.g. /usr/lib/softhsm/libsofthsm2.so (empty: software custody under --seal-kek)")
	fs.StringVar(&c.PKCS11Token, "pkcs11-token", "", "label of the PKCS#11 token the keys are made in (with --pkcs11-module)")
	fs.StringVar(&c.PKCS11PINFile, "pkcs11-pin-file", "", "file whose first line is the PKCS#11 token's user PIN (with --pkcs11-module)")
	fs.StringVar(&c.HolidayCalendar, "holiday-calendar", "", "file of public holidays and adjusted working days (调休) in the format of casework/holidays.yaml, replacing the shipped calendar; cases' due dates are counted on it")
	fs.StringVar(&c.SealFont, "seal-font", sealimage.DefaultFont, "OpenType font or collection (.ttc) seal images are drawn with (Debian package fonts-noto-cjk); its Simplified Chinese face is used")
	fs.StringVar(&c.SealAlgorithm, "seal-algorithm", "sm2", "key algorithm of a seal filed without one: sm2 (SM2 with SM3, GB/T 38540 electronic signatures), ecdsa-p256 or rsa-3072 (PAdES signatures that pdfsig and Adobe validate)")
	fs.DurationVar(&c.SignerTTL, "signer-cache-ttl", seal.DefaultSignerTTL, "how long a seal's key, once unwrapped to apply the seal, is kept in memory for its next applications (0: unwrapped for every one; a status change of the seal drops it)")
	fs.StringVar(&c.PublicURL, "public-url", seal.DefaultPublicURL, "public base address of the scan-to-verify page (扫码验真): the QR code on every stamp names /v/TOKEN/PREFIX under it; set it to the address relying parties reach the service at")
	fs.StringVar(&c.TSAPolicy, "tsa-policy", defaultTSAPolicy, "policy OID named by every timestamp token of the built-in timestamping authority (POST /api/v1/tsa); the default lies under the X.660 example arc: replace it with the center's registered TSA policy")
	fs.DurationVar(&c.TSAAccuracy, "tsa-accuracy", time.Second, "accuracy the timestamp tokens state (the server clock's, e.g. 1s when it follows NTP)")
	fs.StringVar(&c.CAName, "ca-name", "sealvault 电子印章根证书", "common name of the internal CA's root certificate, made on first start")
	fs.StringVar(&c.UploadLimit, "upload-limit", "256M", "largest upload body (material scans and PDFs), e.g. 256M")
	fs.StringVar(&c.BlobStore, "blob-store", "fs", "where document bytes are kept: fs (a directory) or s3 (a bucket of any S3 service)")
	fs.StringVar(&c.BlobDir, "blob-dir", "", "directory of the fs blob store (empty: blobs under --data-dir)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 service host[:port], e.g. minio.internal:9000 or s3.amazonaws.com")
	fs.BoolVar(&c.S3Insecure, "s3-insecure", false, "talk plain HTTP to the S3 service")
	fs.StringVar(&c.S3Region, "s3-region", "", "S3 region (empty: ask the service)")
	fs.StringVar(&c.S3AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&c.S3SecretKey, "s3-secret-key", "", "S3 secret key")
	fs.StringVar(&c.S3Bucket, "s3-bucket", "", "S3 bucket (must exist)")
	fs.StringVar(&c.S3Prefix, "s3-prefix", "", "key prefix inside the bucket, e.g. blobs/")
	fs.StringVar(&c.S3SpoolDir, "s3-spool-dir", "", "local directory for uploads in flight (empty: the system temporary directory)")
	fs.BoolVar(&c.S3DisableChecksum, "s3-disable-checksum", false, "do not send x-amz-checksum-sha256 (for services that refuse it)")
	for _, name := range []string{"database-url", "s3-secret-key", "holder-key", "seal-kek"} {
		_ = fs.SetAnnotation(name, secretAnnotation, []string{"true"})
	}
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "SEALVAULT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// loadEnv fills every flag not given on the command line from the environment.
func loadEnv(fs *pflag.FlagSet) error {
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		env := envName(f.Name)
		val, ok := os.LookupEnv(env)
		if _, secret := f.Annotations[secretAnnotation]; secret && !ok {
			if file, fok := os.LookupEnv(envName(f.Name) + "_FILE"); fok {
				b, err := os.ReadFile(file)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s_FILE: cannot read %s: %v", envName(f.Name), file, err))
					return
				}
				env, val, ok = envName(f.Name)+"_FILE", strings.TrimSpace(string(b)), true
			}
		}
		// The generic variable comes last: the sealvault-specific ones are the more deliberate.
		if !ok && f.Name == "database-url" {
			env = "DATABASE_URL"
			val, ok = os.LookupEnv(env)
		}
		if !ok {
			return
		}
		if err := fs.Set(f.Name, val); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", env, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// validate checks every setting and reports all problems at once.
func (c *Config) validate() error {
	var errs []string
	bad := func(flag, msg string) {
		errs = append(errs, fmt.Sprintf("--%s (%s): %s", flag, envName(flag), msg))
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "must be host:port, e.g. 127.0.0.1:8080")
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("listen", "port must be a number from 0 to 65535")
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	} else if abs, err := filepath.Abs(c.DataDir); err != nil {
		bad("data-dir", err.Error())
	} else {
		// Resolved once, against the directory sealvault was started in; every path
		// derived from it below is then absolute too.
		c.DataDir = abs
	}
	if c.PGPort < 0 || c.PGPort > 65535 {
		bad("pg-port", "must be from 0 to 65535")
	}
	if c.TokenIssuer == "" {
		bad("token-issuer", "must not be empty")
	}
	if c.TokenAudience == "" {
		bad("token-audience", "must not be empty")
	}
	if c.LoginMaxFails < 1 {
		bad("login-max-failures", "must be at least 1")
	}
	if c.LoginWindow < time.Second {
		bad("login-failure-window", "must be at least 1s")
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		bad("token-ttl", "must be between 1m and 24h")
	}
	sso := []string{c.SSOIssuer, c.SSOAudience, c.SSOJWKSFile}
	if set := len(strings.Join(sso, "")) > 0; set && (c.SSOIssuer == "" || c.SSOAudience == "" || c.SSOJWKSFile == "") {
		bad("sso-issuer", "single sign-on needs all of --sso-issuer, --sso-audience and --sso-jwks-file")
	}
	if c.SSOIssuer != "" && c.SSOIssuer == c.TokenIssuer {
		bad("sso-issuer", "must differ from --token-issuer")
	}
	if n, err := bytes.Parse(c.BodyLimit); err != nil || n <= 0 {
		bad("body-limit", "must be a size such as 512K or 1M")
	}
	for _, cidr := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			bad("trusted-proxies", fmt.Sprintf("%q is not a CIDR such as 10.0.0.0/8", cidr))
		}
	}
	for flag, d := range map[string]time.Duration{"read-timeout": c.ReadTimeout, "write-timeout": c.WriteTimeout,
		"idle-timeout": c.IdleTimeout, "shutdown-timeout": c.ShutdownTimeout, "session-idle-timeout": c.SessionIdle} {
		if d <= 0 {
			bad(flag, "must be positive")
		}
	}
	if _, err := c.level(); err != nil {
		bad("log-level", "must be debug, info, warn or error")
	}
	if (c.PKCS11Token != "" || c.PKCS11PINFile != "") && c.PKCS11Module == "" {
		bad("pkcs11-module", "is needed with --pkcs11-token and --pkcs11-pin-file")
	}
	if c.PKCS11Module != "" && (c.PKCS11Token == "" || c.PKCS11PINFile == "") {
		bad("pkcs11-token", "and --pkcs11-pin-file are needed with --pkcs11-module")
	}
	if _, err := keys.ParseAlgorithm(c.SealAlgorithm); err != nil || c.SealAlgorithm == "" {
		bad("seal-algorithm", "must be sm2, ecdsa-p256 or rsa-3072")
	}
	if c.SignerTTL < 0 || c.SignerTTL > time.Hour {
		bad("signer-cache-ttl", "must be between 0 and 1h")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || len(c.PublicURL) > 200 {
		bad("public-url", "must be an http or https address without query or fragment, at most 200 characters, e.g. https://zwfw.example.gov.cn")
	}
	if _, err := parseOID(c.TSAPolicy); err != nil {
		bad("tsa-policy", "must be an object identifier in dotted form, e.g. 2.25.1234")
	}
	if c.TSAAccuracy < time.Microsecond || c.TSAAccuracy > time.Minute {
		bad("tsa-accuracy", "must be between 1µs and 1m")
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 1000 {
		bad("db-max-conns", "must be from 1 to 1000")
	}
	if c.DBTimeout < 100*time.Millisecond || c.DBTimeout > time.Hour {
		bad("db-timeout", "must be between 100ms and 1h")
	}
	if c.DBExportTimeout < c.DBTimeout || c.DBExportTimeout > 24*time.Hour {
		bad("db-export-timeout", "must be at least --db-timeout and at most 24h")
	}
	if c.AuditOrigin == "" || strings.ContainsAny(c.AuditOrigin, "\n+ ") {
		bad("audit-origin", "must be a non-empty name without spaces, '+' or line breaks")
	}
	if c.AuditCheckpointEvery < 1 {
		bad("audit-checkpoint-every", "must be at least 1")
	}
	if c.AuditCheckpointInterval < time.Second {
		bad("audit-checkpoint-interval", "must be at least 1s")
	}
	if c.AuditIntegrateInterval < 10*time.Millisecond || c.AuditIntegrateInterval > time.Minute {
		bad("audit-integrate-interval", "must be between 10ms and 1m")
	}
	if n, err := bytes.Parse(c.UploadLimit); err != nil || n <= 0 {
		bad("upload-limit", "must be a size such as 100M")
	}
	switch c.BlobStore {
	case "fs":
	case "s3":
		if c.S3Endpoint == "" || c.S3Bucket == "" || c.S3AccessKey == "" || c.S3SecretKey == "" {
			bad("blob-store", "s3 needs --s3-endpoint, --s3-bucket, --s3-access-key and --s3-secret-key")
		}
	default:
		bad("blob-store", "must be fs or s3")
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	if c.TokenKeyDir == "" {
		c.TokenKeyDir = filepath.Join(c.DataDir, "keys", "jwt")
	}
	if c.AuditKeyDir == "" {
		c.AuditKeyDir = filepath.Join(c.DataDir, "keys")
	}
	if c.BlobDir == "" {
		c.BlobDir = filepath.Join(c.DataDir, "blobs")
	}
	if c.PGDir == "" {
		c.PGDir = filepath.Join(c.DataDir, "pg")
	}
	if c.AuditCheckpointDir == "" {
		c.AuditCheckpointDir = filepath.Join(c.DataDir, "audit", "checkpoints")
	}
	return nil
}

func (c *Config) level() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(c.LogLevel))
	return l, err
}

func (c *Config) trustedProxies() []*net.IPNet {
	var out []*net.IPNet
	for _, cidr := range c.TrustedProxies {
		if _, n, err := net.ParseCIDR(cidr); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// markdownTable renders every setting as the README's configuration table.
func markdownTable(fs *pflag.FlagSet) string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *pflag.Flag) {
		env := "`" + envName(f.Name) + "`"
		if _, secret := f.Annotations[secretAnnotation]; secret {
			env += ", `" + envName(f.Name) + "_FILE`"
		}
		if f.Name == "database-url" {
			env += ", `DATABASE_URL`"
		}
		def := f.DefValue
		if def == "" || def == "[]" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.Name, env, def, f.Usage)
	})
	return b.String()
}

// dataDirEntries are the entries whose presence marks a sealvault data directory.
var dataDirEntries = []string{"pg", "keys", "blobs", "audit", "testpg"}

// checkDataDir refuses a --data-dir that does not look like a sealvault data directory
// (it exists, is not empty, and holds none of dataDirEntries) unless --foreign-data-dir is
// set, so that state is not spread into a home or project directory by a mistyped flag. A
// directory that does not exist yet is made by whatever needs it. Nothing is created here.
func (c *Config) checkDataDir() error {
	entries, err := os.ReadDir(c.DataDir)
	if errors.Is(err, os.ErrNotExist) || c.ForeignDataDir {
		return nil
	} else if err != nil {
		return fmt.Errorf("--data-dir %s: %w", c.DataDir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if slices.Contains(dataDirEntries, e.Name()) {
			return nil
		}
	}
	return fmt.Errorf("--data-dir %s does not look like a sealvault data directory (it is not empty and holds none of %s): "+
		"give the right --data-dir, an empty or new directory, or --foreign-data-dir to use this one anyway",
		c.DataDir, strings.Join(dataDirEntries, ", "))
}

// defaultTSAPolicy is a timestamp policy OID under the X.660 example arc (2.999), which
// belongs to no one: a center replaces it with its registered TSA policy (--tsa-policy).
const defaultTSAPolicy = "2.999.3161.1"

// parseOID reads a dotted object identifier with at least two arcs.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q is not an object identifier", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '0') || (i == 0 && n > 2) {
			return nil, fmt.Errorf("%q is not an object identifier with arcs below 2³¹", s)
		}
		oid[i] = int(n)
	}
	return oid, nil
}
