/*
 * PkixCheck.java: validates a certificate path with the JDK's own PKIX
 * validator and its revocation checker (OCSP, with CRL distribution points
 * as the fallback), as a relying party's Java application would. Used by
 * tests/t_ocsp.sh; run as a single source file (java PkixCheck.java ...).
 *
 *   java -Dcom.sun.security.enableCRLDP=true PkixCheck.java MODE ROOT CERT...
 *
 * MODE "chain": every certificate of the path is checked, OCSP first, the
 * CRL distribution point when a certificate names no OCSP responder.
 * MODE "leaf-ocsp": only the first certificate, by OCSP only (no CRL
 * fallback), so a pass proves the OCSP answer was accepted.
 * CERT... is the path from the end entity up to, not including, ROOT (PEM
 * files). Exit 0 and "OK ..." when the path validates; exit 1 with the
 * validator's reason otherwise.
 */
import java.io.FileInputStream;
import java.io.InputStream;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

public class PkixCheck {
	private static X509Certificate load(CertificateFactory cf, String path)
	    throws Exception {
		try (InputStream in = new FileInputStream(path)) {
			return (X509Certificate) cf.generateCertificate(in);
		}
	}

	public static void main(String[] args) throws Exception {
		if (args.length < 3 || !(args[0].equals("chain") ||
		    args[0].equals("leaf-ocsp"))) {
			System.err.println("usage: PkixCheck chain|leaf-ocsp " +
			    "ROOT.pem CERT.pem [CA.pem...]");
			System.exit(2);
		}
		CertificateFactory cf = CertificateFactory.getInstance("X.509");
		X509Certificate root = load(cf, args[1]);
		List<X509Certificate> certs = new ArrayList<>();
		for (int i = 2; i < args.length; i++)
			certs.add(load(cf, args[i]));
		CertPath path = cf.generateCertPath(certs);
		CertPathValidator v = CertPathValidator.getInstance("PKIX");
		PKIXRevocationChecker rc =
		    (PKIXRevocationChecker) v.getRevocationChecker();
		if (args[0].equals("leaf-ocsp"))
			rc.setOptions(EnumSet.of(
			    PKIXRevocationChecker.Option.ONLY_END_ENTITY,
			    PKIXRevocationChecker.Option.NO_FALLBACK));
		PKIXParameters params =
		    new PKIXParameters(Set.of(new TrustAnchor(root, null)));
		params.setRevocationEnabled(true);
		params.addCertPathChecker(rc);
		try {
			v.validate(path, params);
		} catch (CertPathValidatorException e) {
			System.out.println("FAIL " + e.getMessage() +
			    (e.getCause() != null ? " (" + e.getCause() + ")" :
			    ""));
			System.exit(1);
		}
		System.out.println("OK " + args[0] + ": " + certs.size() +
		    " certificate(s) to " +
		    root.getSubjectX500Principal().getName() +
		    ", revocation checked");
	}
}
