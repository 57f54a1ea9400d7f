// PdfboxSign is the Apache PDFBox 2 peer of the seal engine's BenchmarkSign
// (seal/pades/bench_test.go, BenchmarkPdfbox): it signs one PDF in memory again and again and
// prints how long each signature took.
//
// One signature: PDDocument.load of the input bytes, PDDocument.addSignature with an
// invisible signature (PDFBox's default widget, a zero rectangle on page 1, field
// "Signature1"), saveIncremental to a ByteArrayOutputStream, during which the
// SignatureInterface makes a detached CMS SignedData with Bouncy Castle: SHA-256 over the
// byte ranges, an ECDSA (or RSA) signature with SHA-256, the signer's chain, and the signed
// attributes PAdES baseline asks for (content type, message digest, ESS
// signing-certificate-v2, no signing-time), /SubFilter ETSI.CAdES.detached. The signing time
// is the dictionary's /M.
//
// Usage:
//   java -cp "$(tools/pdfbox-bench/build.sh)" PdfboxSign --in doc.pdf --key key.pem
//       --chain chain.pem [--warmup 1000] [--n 100] [--threads 1] [--out signed.pdf]
//       [--time 1767225600000] [--name Seal] [--reason Approved] [--location District]
//       [--provider jdk|bc] [--serve true]
//
// --key is a PKCS#8 or SEC 1 private key, PEM or DER; --chain the signer certificate first,
// then its issuers (PEM or DER). --warmup signatures are made and thrown away first (the JIT
// compiles the hot paths), then --n measured ones, each on --threads threads sharing the
// work. --out writes the last measured signed document. --time is the signing time in
// milliseconds since the epoch (default: now). --provider names the JCA provider of the
// signature and the digest (default jdk: the JDK's own, SunEC and SUN). With --serve true,
// the program says "ready" after the warm-up and then reads counts from stdin, one a line,
// and makes that many measured signatures for each (the Go benchmark sends b.N), until EOF.
//
// Output on stdout, one record a line:
//   version pdfbox <v> bouncycastle <v> java <v>
//   ready                                 (--serve true: the warm-up is done)
//   op <nanoseconds>                      one line per measured signature, in order of completion
//   total <nanoseconds> <n> <threads>     wall time of the measured signatures; ends a run
// The signed document of a run is written to --out before its op lines are printed.
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Calendar;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TimeZone;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.PDSignature;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.SignatureInterface;
import org.apache.pdfbox.util.Version;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.CMSAttributes;
import org.bouncycastle.asn1.cms.CMSObjectIdentifiers;
import org.bouncycastle.asn1.ess.ESSCertIDv2;
import org.bouncycastle.asn1.ess.SigningCertificateV2;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.IssuerSerial;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cms.CMSAttributeTableGenerator;
import org.bouncycastle.cms.CMSException;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.CMSTypedData;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public final class PdfboxSign {
    private final byte[] input;
    private final PrivateKey key;
    private final List<X509Certificate> chain;
    private final Attribute signingCertificate;
    private final String provider; // null: the JDK's providers
    private final Calendar time;
    private final String name, reason, location;

    private PdfboxSign(byte[] input, PrivateKey key, List<X509Certificate> chain, String provider,
            Calendar time, String name, String reason, String location) throws Exception {
        this.input = input;
        this.key = key;
        this.chain = chain;
        this.provider = provider;
        this.time = time;
        this.name = name;
        this.reason = reason;
        this.location = location;
        X509Certificate signer = chain.get(0);
        byte[] certHash = MessageDigest.getInstance("SHA-256").digest(signer.getEncoded());
        IssuerSerial issuerSerial = new IssuerSerial(
                new GeneralNames(new GeneralName(new JcaX509CertificateHolder(signer).getIssuer())),
                signer.getSerialNumber());
        // ESSCertIDv2 with the default hash algorithm, SHA-256.
        SigningCertificateV2 sc = new SigningCertificateV2(new ESSCertIDv2[] {new ESSCertIDv2(certHash, issuerSerial)});
        this.signingCertificate = new Attribute(PKCSObjectIdentifiers.id_aa_signingCertificateV2, new DERSet(sc));
    }

    /** Signs the input once and returns the signed document. */
    byte[] signOnce() throws IOException {
        try (PDDocument doc = PDDocument.load(input)) {
            PDSignature sig = new PDSignature();
            sig.setFilter(PDSignature.FILTER_ADOBE_PPKLITE);
            sig.setSubFilter(PDSignature.SUBFILTER_ETSI_CADES_DETACHED);
            sig.setName(name);
            sig.setReason(reason);
            sig.setLocation(location);
            sig.setSignDate((Calendar) time.clone());
            doc.addSignature(sig, this::cms);
            ByteArrayOutputStream out = new ByteArrayOutputStream(input.length + 32 * 1024);
            doc.saveIncremental(out);
            return out.toByteArray();
        }
    }

    /** The SignatureInterface: a detached CMS SignedData over the byte ranges in content. */
    private byte[] cms(InputStream content) throws IOException {
        try {
            JcaContentSignerBuilder csb = new JcaContentSignerBuilder(
                    key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA");
            JcaDigestCalculatorProviderBuilder dcb = new JcaDigestCalculatorProviderBuilder();
            if (provider != null) {
                csb.setProvider(provider);
                dcb.setProvider(provider);
            }
            ContentSigner signer = csb.build(key);
            CMSAttributeTableGenerator signedAttrs = params -> {
                ASN1EncodableVector v = new ASN1EncodableVector();
                v.add(new Attribute(CMSAttributes.contentType,
                        new DERSet((ASN1ObjectIdentifier) params.get(CMSAttributeTableGenerator.CONTENT_TYPE))));
                v.add(new Attribute(CMSAttributes.messageDigest,
                        new DERSet(new DEROctetString((byte[]) params.get(CMSAttributeTableGenerator.DIGEST)))));
                v.add(signingCertificate);
                return new AttributeTable(v);
            };
            CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
            gen.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(dcb.build())
                    .setSignedAttributeGenerator(signedAttrs)
                    .build(signer, chain.get(0)));
            gen.addCertificates(new JcaCertStore(chain));
            // DER: Bouncy Castle's default encoding of SignedData is BER with indefinite
            // lengths, which pades.Verify does not read.
            return gen.generate(new StreamData(content), false).getEncoded(ASN1Encoding.DER);
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("CMS: " + e, e);
        }
    }

    /** The signed byte ranges as CMS content, streamed into the digest. */
    private static final class StreamData implements CMSTypedData {
        private final InputStream in;

        StreamData(InputStream in) {
            this.in = in;
        }

        @Override
        public ASN1ObjectIdentifier getContentType() {
            return CMSObjectIdentifiers.data;
        }

        @Override
        public Object getContent() {
            return in;
        }

        @Override
        public void write(OutputStream out) throws IOException, CMSException {
            in.transferTo(out);
        }
    }

    /** A timed run of n signatures on threads threads. */
    private static final class Run {
        long[] latencies;
        long elapsed;
        byte[] last;
    }

    private Run run(int n, int threads, boolean keepLast) throws Exception {
        Run r = new Run();
        r.latencies = new long[n];
        AtomicInteger next = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        AtomicReference<Exception> failed = new AtomicReference<>();
        AtomicReference<byte[]> last = new AtomicReference<>();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> fs = new ArrayList<>();
            long start = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                fs.add(pool.submit(() -> {
                    while (failed.get() == null) {
                        int i = next.getAndIncrement();
                        if (i >= n) {
                            return;
                        }
                        try {
                            long t0 = System.nanoTime();
                            byte[] out = signOnce();
                            r.latencies[done.getAndIncrement()] = System.nanoTime() - t0;
                            if (keepLast && i == n - 1) {
                                last.set(out);
                            }
                        } catch (Exception e) {
                            failed.compareAndSet(null, e);
                            return;
                        }
                    }
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
            r.elapsed = System.nanoTime() - start;
        } finally {
            pool.shutdown();
        }
        if (failed.get() != null) {
            throw failed.get();
        }
        r.last = last.get();
        return r;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new HashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                usage("bad argument " + args[i]);
            }
            opt.put(args[i].substring(2), args[i + 1]);
        }
        for (String k : opt.keySet()) {
            if (!List.of("in", "key", "chain", "warmup", "n", "threads", "out", "time", "name", "reason",
                    "location", "provider", "serve").contains(k)) {
                usage("unknown option --" + k);
            }
        }
        if (!opt.containsKey("in") || !opt.containsKey("key") || !opt.containsKey("chain")) {
            usage("--in, --key and --chain are required");
        }
        int warmup = Integer.parseInt(opt.getOrDefault("warmup", "1000"));
        int n = Integer.parseInt(opt.getOrDefault("n", "100"));
        int threads = Integer.parseInt(opt.getOrDefault("threads", "1"));
        if (warmup < 0 || n < 1 || threads < 1) {
            usage("--warmup must be at least 0, --n and --threads at least 1");
        }
        String provider = null;
        switch (opt.getOrDefault("provider", "jdk")) {
            case "jdk":
                break;
            case "bc":
                Security.addProvider(new BouncyCastleProvider());
                provider = BouncyCastleProvider.PROVIDER_NAME;
                break;
            default:
                usage("--provider is jdk or bc");
        }
        Calendar time = Calendar.getInstance(TimeZone.getTimeZone("UTC"));
        if (opt.containsKey("time")) {
            time.setTimeInMillis(Long.parseLong(opt.get("time")));
        }

        byte[] input = Files.readAllBytes(Path.of(opt.get("in")));
        PdfboxSign s = new PdfboxSign(input, readKey(Path.of(opt.get("key"))), readChain(Path.of(opt.get("chain"))),
                provider, time, opt.getOrDefault("name", "Seal"), opt.getOrDefault("reason", "Approved"),
                opt.getOrDefault("location", "District"));

        System.out.println("version pdfbox " + Version.getVersion() + " bouncycastle "
                + new BouncyCastleProvider().getVersionStr() + " java " + System.getProperty("java.version"));
        if (warmup > 0) {
            s.run(warmup, threads, false);
        }
        if (!opt.getOrDefault("serve", "false").equals("true")) {
            s.measure(n, threads, opt.get("out"));
            return;
        }
        System.out.println("ready");
        System.out.flush();
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        for (String line; (line = stdin.readLine()) != null; ) {
            int count = Integer.parseInt(line.trim());
            if (count < 1) {
                usage("a count on stdin must be at least 1");
            }
            s.measure(count, threads, opt.get("out"));
        }
    }

    /** Runs n measured signatures, prints their times and writes the last result to out. */
    private void measure(int n, int threads, String out) throws Exception {
        Run r = run(n, threads, out != null);
        if (out != null) {
            Files.write(Path.of(out), r.last);
        }
        StringBuilder b = new StringBuilder();
        for (long ns : r.latencies) {
            b.append("op ").append(ns).append('\n');
        }
        b.append("total ").append(r.elapsed).append(' ').append(n).append(' ').append(threads).append('\n');
        System.out.print(b);
        System.out.flush();
    }

    private static void usage(String why) {
        System.err.println("PdfboxSign: " + why);
        System.err.println("usage: PdfboxSign --in doc.pdf --key key.pem --chain chain.pem [--warmup 1000] [--n 100]"
                + " [--threads 1] [--out signed.pdf] [--time millis] [--name s] [--reason s] [--location s]"
                + " [--provider jdk|bc] [--serve true]");
        System.exit(2);
    }

    /** Reads a PKCS#8 or SEC 1 private key, PEM or DER. */
    private static PrivateKey readKey(Path p) throws Exception {
        byte[] data = Files.readAllBytes(p);
        JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
        String text = new String(data, StandardCharsets.US_ASCII);
        if (!text.contains("-----BEGIN")) {
            return conv.getPrivateKey(PrivateKeyInfo.getInstance(data));
        }
        try (Reader rd = new StringReader(text); PEMParser pp = new PEMParser(rd)) {
            for (Object o; (o = pp.readObject()) != null; ) {
                if (o instanceof PrivateKeyInfo) {
                    return conv.getPrivateKey((PrivateKeyInfo) o);
                }
                if (o instanceof PEMKeyPair) {
                    return conv.getKeyPair((PEMKeyPair) o).getPrivate();
                }
            }
        }
        throw new IllegalArgumentException(p + ": no unencrypted private key");
    }

    /** Reads the certificates of p in order, PEM or DER. */
    private static List<X509Certificate> readChain(Path p) throws Exception {
        List<X509Certificate> chain = new ArrayList<>();
        try (InputStream in = Files.newInputStream(p)) {
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                chain.add((X509Certificate) c);
            }
        }
        if (chain.isEmpty()) {
            throw new IllegalArgumentException(p + ": no certificate");
        }
        return chain;
    }
}
