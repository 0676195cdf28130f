//! An ICAP (RFC 3507) engine: the protocol commercial anti-virus products
//! speak. Each stream is one RESPMOD request on its own connection: the file
//! is sent as the chunked body of a made-up HTTP response, with `Allow: 204`
//! so that a clean file costs no echo of the body.
//!
//! Verdicts fail closed: `ICAP/1.0 204` is Clean; `200` with an
//! `X-Infection-Found` (`Threat=NAME;`) or `X-Violations-Found` /
//! `X-Virus-ID` header is Infected; anything else — a 200 that names no
//! threat (the server rewrote the body for reasons we cannot read), an error
//! status, a time-out, a broken connection — is Unscanned. We never send a
//! `Preview`, so the server does not answer `100 Continue`.
//!
//! Like clamd, ICAP servers open archives themselves, so by default they get
//! the file as uploaded only. Blocking std TCP sockets with time-outs, for
//! the reasons given in the clamd module. No TLS (`icaps://`): run the ICAP
//! server on the gateway host or a trusted segment.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::config::IcapConfig;
use super::engine::{Engine, EngineInfo, EngineResult, EngineSession, StreamDigest};

/// Bytes buffered per chunk of the body.
pub const FRAME: usize = 256 << 10;
const MAX_HEADERS: usize = 64 << 10;
const DEFAULT_PORT: u16 = 1344;

#[derive(Debug, Clone)]
pub struct IcapEngine {
    /// The URL as sent on the request line.
    url: String,
    /// `host:port` to connect to.
    authority: String,
    host: String,
    connect_timeout: Duration,
    io_timeout: Duration,
    reply_timeout: Duration,
    scan_members: bool,
}

impl IcapEngine {
    pub fn from_config(config: &IcapConfig) -> Result<Self> {
        let url = config.url.trim();
        let rest = url.strip_prefix("icap://").with_context(|| {
            format!("ICAP URL {url:?} must look like icap://127.0.0.1:1344/avscan")
        })?;
        let (authority, _path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            bail!("ICAP URL {url:?} has no host");
        }
        let bad_port = || anyhow::anyhow!("ICAP URL {url:?} has a bad port");
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            // [v6-address] or [v6-address]:port
            let (addr, after) = bracketed
                .split_once(']')
                .with_context(|| format!("ICAP URL {url:?} has an unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse::<u16>().map_err(|_| bad_port())?,
                None if after.is_empty() => DEFAULT_PORT,
                None => return Err(bad_port()),
            };
            (format!("[{addr}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, p)) => (host.to_string(), p.parse::<u16>().map_err(|_| bad_port())?),
                None => (authority.to_string(), DEFAULT_PORT),
            }
        };
        Ok(IcapEngine {
            url: url.to_string(),
            authority: format!("{host}:{port}"),
            host,
            connect_timeout: Duration::from_secs(config.connect_timeout_seconds.max(1)),
            io_timeout: Duration::from_secs(config.io_timeout_seconds.max(1)),
            reply_timeout: Duration::from_secs(config.reply_timeout_seconds.max(1)),
            scan_members: config.scan_members,
        })
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address resolved");
        for sa in self.authority.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, self.connect_timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(self.io_timeout))?;
                    s.set_write_timeout(Some(self.io_timeout))?;
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn respmod_head(&self) -> Vec<u8> {
        let req = "GET /sekisho/scan HTTP/1.1\r\nHost: sekisho\r\n\r\n";
        let res = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        format!(
            "RESPMOD {url} ICAP/1.0\r\nHost: {host}\r\nAllow: 204\r\nConnection: close\r\n\
             Encapsulated: req-hdr=0, res-hdr={res_at}, res-body={body_at}\r\n\r\n{req}{res}",
            url = self.url,
            host = self.host,
            res_at = req.len(),
            body_at = req.len() + res.len(),
        )
        .into_bytes()
    }
}

/// An ICAP response's status code and headers (names lower-cased).
#[derive(Debug, PartialEq, Eq)]
pub struct IcapResponse {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
}

impl IcapResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_response(conn: &mut dyn Read) -> io::Result<IcapResponse> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the blank line: responses are short and we must
    // not read into an encapsulated body we do not want.
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if head.len() > MAX_HEADERS {
            return Err(io::Error::other("ICAP response headers too long"));
        }
    }
    parse_response(&String::from_utf8_lossy(&head))
}

/// Parses the status line and headers of an ICAP response.
pub fn parse_response(text: &str) -> io::Result<IcapResponse> {
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("").trim().to_string();
    let mut words = status_line.split_whitespace();
    let status = match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("ICAP/") => code,
        _ => {
            return Err(io::Error::other(format!(
                "not an ICAP response: {:?}",
                status_line.chars().take(100).collect::<String>()
            )));
        }
    };
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(IcapResponse {
        status,
        status_line,
        headers,
    })
}

/// What a RESPMOD response means.
pub fn interpret(response: &IcapResponse) -> EngineResult {
    match response.status {
        204 => EngineResult::Clean,
        200 => {
            let threat = response
                .header("x-infection-found")
                .map(|v| {
                    v.split(';')
                        .filter_map(|p| p.trim().strip_prefix("Threat="))
                        .map(str::trim)
                        .next()
                        .unwrap_or(v)
                        .to_string()
                })
                .or_else(|| response.header("x-virus-id").map(str::to_string))
                .or_else(|| response.header("x-violations-found").map(str::to_string));
            match threat {
                Some(signature) if !signature.is_empty() => EngineResult::Infected { signature },
                _ => EngineResult::Unscanned {
                    reason: "the ICAP server modified the file without naming a threat".into(),
                },
            }
        }
        _ => EngineResult::Unscanned {
            reason: format!("ICAP server answered {:?}", response.status_line),
        },
    }
}

impl Engine for IcapEngine {
    fn name(&self) -> &str {
        "icap"
    }

    /// `OPTIONS`: the `Service` header names the product, `ISTag` changes
    /// with its signatures. ICAP has no signature date.
    fn info(&self) -> Result<EngineInfo> {
        let mut conn = self
            .connect()
            .with_context(|| format!("cannot connect to the ICAP server {}", self.authority))?;
        let request = format!(
            "OPTIONS {} ICAP/1.0\r\nHost: {}\r\nConnection: close\r\nEncapsulated: null-body=0\r\n\r\n",
            self.url, self.host
        );
        conn.write_all(request.as_bytes())
            .context("cannot send OPTIONS to the ICAP server")?;
        let response =
            read_response(&mut conn).context("no answer to OPTIONS from the ICAP server")?;
        if response.status != 200 {
            bail!(
                "ICAP server answered OPTIONS with {:?}",
                response.status_line
            );
        }
        let service = response.header("service").unwrap_or("ICAP service");
        let version = match response.header("istag") {
            Some(tag) => format!("{service} (ISTag {tag})"),
            None => service.to_string(),
        };
        Ok(EngineInfo {
            version,
            signatures_updated: None,
        })
    }

    fn scans_members(&self) -> bool {
        self.scan_members
    }

    fn start(&self) -> Box<dyn EngineSession + '_> {
        let started = self
            .connect()
            .map_err(|e| format!("cannot connect to the ICAP server {}: {e}", self.authority))
            .and_then(|mut conn| {
                conn.write_all(&self.respmod_head())
                    .map_err(|e| format!("cannot send RESPMOD to {}: {e}", self.authority))?;
                Ok(conn)
            });
        let (conn, error) = match started {
            Ok(conn) => (Some(conn), None),
            Err(e) => (None, Some(e)),
        };
        Box::new(IcapSession {
            engine: self,
            conn,
            buf: Vec::new(),
            error,
        })
    }
}

struct IcapSession<'e> {
    engine: &'e IcapEngine,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    error: Option<String>,
}

impl IcapSession<'_> {
    fn send(&mut self, last: bool) {
        if self.error.is_some() {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut frame = Vec::with_capacity(self.buf.len() + 16);
        if !self.buf.is_empty() {
            frame.extend_from_slice(format!("{:x}\r\n", self.buf.len()).as_bytes());
            frame.extend_from_slice(&self.buf);
            frame.extend_from_slice(b"\r\n");
        }
        if last {
            frame.extend_from_slice(b"0\r\n\r\n");
        }
        self.buf.clear();
        if let Err(e) = conn.write_all(&frame) {
            // The server may have answered early (an error) and closed.
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let early = read_response(conn).ok();
            self.error = Some(match early {
                Some(r) => format!(
                    "ICAP server answered {:?} before the file was sent",
                    r.status_line
                ),
                None => format!(
                    "lost the connection to the ICAP server {}: {e}",
                    self.engine.authority
                ),
            });
            self.conn = None;
        }
    }
}

impl EngineSession for IcapSession<'_> {
    fn update(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && self.error.is_none() {
            let take = chunk.len().min(FRAME - self.buf.len());
            let (now, later) = chunk.split_at_checked(take).unwrap_or((chunk, &[]));
            self.buf.extend_from_slice(now);
            chunk = later;
            if self.buf.len() == FRAME {
                self.send(false);
            }
        }
    }

    fn finish(mut self: Box<Self>, _digest: &StreamDigest) -> EngineResult {
        self.send(true);
        if let Some(reason) = self.error.take() {
            return EngineResult::Unscanned { reason };
        }
        let Some(mut conn) = self.conn.take() else {
            return EngineResult::Unscanned {
                reason: "no connection to the ICAP server".into(),
            };
        };
        if let Err(e) = conn.set_read_timeout(Some(self.engine.reply_timeout)) {
            return EngineResult::Unscanned {
                reason: format!("cannot set the reply time-out: {e}"),
            };
        }
        match read_response(&mut conn) {
            Ok(response) => interpret(&response),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                EngineResult::Unscanned {
                    reason: format!(
                        "the ICAP server {} gave no verdict within {} s",
                        self.engine.authority,
                        self.engine.reply_timeout.as_secs()
                    ),
                }
            }
            Err(e) => EngineResult::Unscanned {
                reason: format!(
                    "no usable answer from the ICAP server {}: {e}",
                    self.engine.authority
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    fn icap_at(url: &str) -> IcapEngine {
        IcapEngine::from_config(&IcapConfig {
            url: url.into(),
            reply_timeout_seconds: 1,
            ..IcapConfig::default()
        })
        .expect("engine")
    }

    #[test]
    fn urls() {
        let e = icap_at("icap://127.0.0.1:1344/avscan");
        assert_eq!(e.authority, "127.0.0.1:1344");
        assert_eq!(icap_at("icap://scanner/avscan").authority, "scanner:1344");
        assert_eq!(icap_at("icap://[::1]:11344/x").authority, "[::1]:11344");
        assert_eq!(icap_at("icap://[::1]/x").authority, "[::1]:1344");
        for bad in ["http://x/y", "icap:///x", "icap://h:port/x"] {
            assert!(
                IcapEngine::from_config(&IcapConfig {
                    url: bad.into(),
                    ..IcapConfig::default()
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn responses() {
        let clean = parse_response("ICAP/1.0 204 No Content\r\nISTag: \"x\"\r\n\r\n").expect("204");
        assert_eq!(interpret(&clean), EngineResult::Clean);
        let found = parse_response(
            "ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Eicar-Signature;\r\n\r\n",
        )
        .expect("200");
        assert_eq!(
            interpret(&found),
            EngineResult::Infected {
                signature: "Eicar-Signature".into()
            }
        );
        let found =
            parse_response("ICAP/1.0 200 OK\r\nX-Virus-ID: Some.Virus\r\n\r\n").expect("200");
        assert_eq!(
            interpret(&found),
            EngineResult::Infected {
                signature: "Some.Virus".into()
            }
        );
        for unscanned in [
            "ICAP/1.0 200 OK\r\nEncapsulated: res-body=0\r\n\r\n",
            "ICAP/1.0 500 Server Error\r\n\r\n",
            "ICAP/1.0 404 Service Not Found\r\n\r\n",
        ] {
            let r = parse_response(unscanned).expect("parse");
            assert!(
                matches!(interpret(&r), EngineResult::Unscanned { .. }),
                "{unscanned}"
            );
        }
        assert!(parse_response("HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_response("").is_err());
    }

    /// A fake ICAP server: decodes the chunked body and answers with `reply`
    /// when the body contains "virus", else 204.
    fn fake_icap() -> (String, std::thread::JoinHandle<(String, Vec<u8>)>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = std::thread::spawn(move || {
            let (s, _) = listener.accept().expect("accept");
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut head = String::new();
            // ICAP headers, then the two encapsulated HTTP header blocks.
            let mut blank = 0;
            while blank < 3 {
                let mut line = String::new();
                r.read_line(&mut line).expect("line");
                if line == "\r\n" {
                    blank += 1;
                }
                head.push_str(&line);
            }
            let mut body = Vec::new();
            loop {
                let mut size = String::new();
                r.read_line(&mut size).expect("size");
                let n = usize::from_str_radix(size.trim(), 16).expect("hex size");
                let mut chunk = vec![0u8; n + 2];
                r.read_exact(&mut chunk).expect("chunk");
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            let reply = if body.windows(5).any(|w| w == b"virus") {
                "ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Fake.Virus;\r\nEncapsulated: null-body=0\r\n\r\n"
            } else {
                "ICAP/1.0 204 No Content\r\n\r\n"
            };
            let mut s = s;
            s.write_all(reply.as_bytes()).expect("reply");
            (head, body)
        });
        (format!("icap://127.0.0.1:{port}/avscan"), handle)
    }

    fn scan(engine: &IcapEngine, data: &[u8]) -> EngineResult {
        let mut session = engine.start();
        for part in data.chunks(100_000) {
            session.update(part);
        }
        session.finish(&StreamDigest {
            sha256: [0; 32],
            size: data.len() as u64,
        })
    }

    #[test]
    fn respmod_against_a_fake_server() {
        let (url, server) = fake_icap();
        let mut data = vec![b'a'; FRAME + 10];
        data.extend_from_slice(b"a virus here");
        assert_eq!(
            scan(&icap_at(&url), &data),
            EngineResult::Infected {
                signature: "Fake.Virus".into()
            }
        );
        let (head, body) = server.join().expect("server");
        assert!(
            head.starts_with(&format!("RESPMOD {url} ICAP/1.0\r\n")),
            "{head}"
        );
        assert!(head.contains("Encapsulated: req-hdr=0, res-hdr="), "{head}");
        assert_eq!(body, data);

        let (url, server) = fake_icap();
        assert_eq!(scan(&icap_at(&url), b"harmless"), EngineResult::Clean);
        server.join().expect("server");
    }

    #[test]
    fn unreachable_or_silent_server_is_unscanned() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("icap://{}/avscan", listener.local_addr().expect("addr"));
        // Accepts (the kernel does) but never answers: reply time-out.
        let result = scan(&icap_at(&url), b"data");
        assert!(
            matches!(&result, EngineResult::Unscanned { reason } if reason.contains("no verdict")),
            "{result:?}"
        );
        drop(listener);
        let result = scan(&icap_at(&url), b"data");
        assert!(
            matches!(&result, EngineResult::Unscanned { reason } if reason.contains("cannot connect")),
            "{result:?}"
        );
    }
}
