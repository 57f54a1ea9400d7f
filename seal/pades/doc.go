// Package pades applies electronic seals to PDF documents and verifies them.
//
// Sign appends an incremental update to a PDF: a signature field whose widget shows the seal
// image where the Placement says, and a PAdES baseline B-B signature (ETSI EN 319 142-1):
// a detached CAdES SignedData with SHA-256, the signer's certificate chain and the ESS
// signing-certificate-v2 attribute, the claimed signing time in the signature dictionary's
// /M. The original bytes stay untouched as the prefix, so earlier signatures remain valid.
//
// Verify reports every signature of a PDF: whether its digest and CMS signature hold,
// whether its certificate chains to the given roots at the signing time, and what the
// signature does not cover, in particular bytes appended after it.
//
// The package reads only the objects it needs (the cross-reference sections, the catalog,
// the page tree path to the stamped page and the form) instead of parsing the whole
// document, so signing costs little more than hashing the file once. SignTo reads them at
// random through an io.ReaderAt, through a small window that grows only for an object larger
// than it, and streams the signed document to an io.Writer, so its memory does not grow with
// the document; Sign is SignTo for a document in memory. It does not sign encrypted
// documents, and it needs a readable cross-reference: damaged files are rejected rather
// than repaired.
package pades
