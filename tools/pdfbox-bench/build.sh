#!/usr/bin/env bash
# Compiles PdfboxSign.java, the Apache PDFBox 2 peer of the seal engine's benchmarks, with
# javac against the Debian jars in /usr/share/java, into var/pdfbox-bench/classes (ignored by
# git; PDFBOX_BENCH_DIR overrides the directory), and prints the class path to run it with:
#
#   java -cp "$(tools/pdfbox-bench/build.sh)" PdfboxSign --in doc.pdf --key key.pem --chain chain.pem
#
# It installs nothing: a missing tool or jar fails naming its Debian package (tools/prereqs.sh
# bench installs them all). The classes are compiled again only when the source is newer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${PDFBOX_BENCH_DIR:-$root/var/pdfbox-bench}
jars=/usr/share/java

missing=()
command -v java >/dev/null && command -v javac >/dev/null || missing+=(default-jdk-headless)
cp=
# jar:package, in class-path order
for pair in pdfbox2.jar:libpdfbox2-java fontbox2.jar:libfontbox2-java commons-logging.jar:libcommons-logging-java \
	bcprov.jar:libbcprov-java bcpkix.jar:libbcpkix-java bcutil.jar:libbcutil-java; do
	jar=${pair%%:*} pkg=${pair##*:}
	if [ -f "$jars/$jar" ]; then
		cp=${cp:+$cp:}$jars/$jar
	else
		missing+=("$pkg")
	fi
done
if ((${#missing[@]})); then
	echo "pdfbox-bench: missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]} (or run tools/prereqs.sh bench as root)" >&2
	exit 1
fi

classes=$dir/classes
if [ ! -f "$classes/PdfboxSign.class" ] || [ "$here/PdfboxSign.java" -nt "$classes/PdfboxSign.class" ]; then
	mkdir -p "$dir"
	tmp=$(mktemp -d "$dir/classes.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	javac -Xlint:all,-path -d "$tmp" -cp "$cp" "$here/PdfboxSign.java" >&2
	rm -rf "$classes"
	mv "$tmp" "$classes"
	trap - EXIT
fi
echo "$classes:$cp"
