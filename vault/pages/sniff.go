package pages

import (
	"bytes"
	"unicode/utf8"
)

// kind is what a file's first bytes say it is. format is set for the three page image
// formats accepted; en and zh, noun phrases, name anything else recognised, so that a
// refusal can say what the file looks like; both are empty for bytes nothing recognises.
type kind struct {
	format string // "jpeg", "png", "tiff" or ""
	name   string // "JPEG", "PNG", "TIFF" for the page formats
	pdf    bool
	en, zh string
}

var (
	kindJPEG = kind{format: "jpeg", name: "JPEG", en: "a JPEG image", zh: "一张 JPEG 图片"}
	kindPNG  = kind{format: "png", name: "PNG", en: "a PNG image", zh: "一张 PNG 图片"}
	kindTIFF = kind{format: "tiff", name: "TIFF", en: "a TIFF image", zh: "一张 TIFF 图片"}
	kindPDF  = kind{pdf: true, en: "a PDF", zh: "一个 PDF 文件"}
)

// magics are matched at the start of the file, in order.
var magics = []struct {
	prefix string
	k      kind
}{
	{"\xff\xd8\xff", kindJPEG},
	{"\x89PNG\r\n\x1a\n", kindPNG},
	{"II*\x00", kindTIFF},
	{"MM\x00*", kindTIFF},
	{"II+\x00", kind{en: "a BigTIFF image", zh: "一张 BigTIFF 图片"}},
	{"MM\x00+", kind{en: "a BigTIFF image", zh: "一张 BigTIFF 图片"}},
	{"PK\x03\x04", kind{en: "a ZIP archive (or an Office document)", zh: "一个 ZIP 压缩包（或 Office 文档）"}},
	{"PK\x05\x06", kind{en: "a ZIP archive", zh: "一个 ZIP 压缩包"}},
	{"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", kind{en: "an older Microsoft Office document (.doc, .xls)", zh: "一个旧版 Microsoft Office 文档（.doc、.xls）"}},
	{"Rar!\x1a\x07", kind{en: "a RAR archive", zh: "一个 RAR 压缩包"}},
	{"7z\xbc\xaf\x27\x1c", kind{en: "a 7-Zip archive", zh: "一个 7-Zip 压缩包"}},
	{"\x1f\x8b", kind{en: "a gzip archive", zh: "一个 gzip 压缩包"}},
	{"GIF87a", kind{en: "a GIF image", zh: "一张 GIF 图片"}},
	{"GIF89a", kind{en: "a GIF image", zh: "一张 GIF 图片"}},
	{"\x00\x00\x00\x0cjP  \r\n\x87\n", kind{en: "a JPEG 2000 image", zh: "一张 JPEG 2000 图片"}},
	{"\xff\x4f\xff\x51", kind{en: "a JPEG 2000 image", zh: "一张 JPEG 2000 图片"}},
	{"\x00\x00\x00\x0cJXL \r\n\x87\n", kind{en: "a JPEG XL image", zh: "一张 JPEG XL 图片"}},
	{"\xff\x0a", kind{en: "a JPEG XL image", zh: "一张 JPEG XL 图片"}},
	{"%!PS", kind{en: "a PostScript file", zh: "一个 PostScript 文件"}},
}

// sniff tells what data is from its content alone.
func sniff(data []byte) kind {
	for _, m := range magics {
		if bytes.HasPrefix(data, []byte(m.prefix)) {
			return m.k
		}
	}
	head := data[:min(len(data), 1024)]
	// The header may follow up to 1 KiB of junk (ISO 32000-1, annex H).
	if bytes.Contains(head, []byte("%PDF-")) {
		return kindPDF
	}
	switch {
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return kind{en: "a WebP image", zh: "一张 WebP 图片"}
	case len(data) >= 14 && string(data[:2]) == "BM" && string(data[6:10]) == "\x00\x00\x00\x00":
		return kind{en: "a BMP image", zh: "一张 BMP 图片"}
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		switch string(data[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			return kind{en: "a HEIC photo (set the camera to save JPEG)", zh: "一张 HEIC 照片（请将相机设置为保存 JPEG）"}
		case "avif", "avis":
			return kind{en: "an AVIF image", zh: "一张 AVIF 图片"}
		}
		return kind{en: "a video or other media file", zh: "一个视频或其他媒体文件"}
	case isText(head):
		return kind{en: "a text file", zh: "一个文本文件"}
	}
	return kind{}
}

// isText reports whether head reads as UTF-8 or UTF-16 text. head may end inside a
// multi-byte character, since it is cut from a longer file.
func isText(head []byte) bool {
	if bytes.HasPrefix(head, []byte("\xff\xfe")) || bytes.HasPrefix(head, []byte("\xfe\xff")) {
		return true
	}
	for len(head) > 0 {
		r, n := utf8.DecodeRune(head)
		if r == utf8.RuneError && n <= 1 {
			return !utf8.FullRune(head) && len(head) < utf8.UTFMax
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' {
			return false
		}
		head = head[n:]
	}
	return true
}
