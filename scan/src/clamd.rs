//! ClamAV through clamd's INSTREAM command, over a Unix or TCP socket.
//!
//! Blocking `std` sockets with time-outs, not tokio: the scanner runs on a
//! blocking thread and a session lives exactly as long as one stream, so an
//! async runtime would add nothing but a second way to block. Each session
//! is one connection: `zINSTREAM\0`, then chunks each prefixed with a 4-byte
//! big-endian length (buffered to [`FRAME`] bytes so that the walker's small
//! reads do not become small frames), a zero-length chunk to end, then one
//! NUL-terminated reply: `stream: OK`, `stream: NAME FOUND` or `... ERROR`.
//!
//! Failing closed: a refused or timed-out connection, a connection lost
//! mid-stream (clamd stopped, or closed the stream because it exceeded
//! `StreamMaxLength`: `INSTREAM size limit exceeded`), an `ERROR` reply or a
//! reply we do not understand are all Unscanned. So are clamd's own
//! heuristics for limits (`Heuristics.Limits.Exceeded.*`, reported when
//! `AlertExceedsMax` is on: clamd stopped looking) and for encrypted content
//! (`Heuristics.Encrypted.*`): they say "not checked", not "infected".
//!
//! clamd opens archives itself, so by default only the file as uploaded is
//! streamed to it (`scan_members = false`); its limits (`MaxRecursion`,
//! `MaxFiles`, `MaxScanSize`, `MaxFileSize`) then apply, and with
//! `AlertExceedsMax true` an exceeded limit comes back Unscanned.
//!
//! Unix sockets have no connect time-out in `std`; connecting to a local
//! socket either succeeds or fails at once, so only reads and writes are
//! timed there.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use time::OffsetDateTime;

use super::config::ClamdConfig;
use super::engine::{Engine, EngineInfo, EngineResult, EngineSession, StreamDigest};

/// Bytes buffered per INSTREAM chunk.
pub const FRAME: usize = 256 << 10;
/// Longest reply we read; clamd's are one short line.
const MAX_REPLY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl ClamdAddress {
    /// `unix:/path`, `/path` (Unix socket), `tcp:host:port` or `host:port`.
    pub fn parse(address: &str) -> Result<Self> {
        let address = address.trim();
        if let Some(path) = address.strip_prefix("unix:") {
            return Ok(ClamdAddress::Unix(PathBuf::from(path)));
        }
        if address.starts_with('/') {
            return Ok(ClamdAddress::Unix(PathBuf::from(address)));
        }
        let tcp = address.strip_prefix("tcp:").unwrap_or(address);
        match tcp.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(ClamdAddress::Tcp(tcp.to_string()))
            }
            _ => bail!(
                "clamd address {address:?} is neither a socket path (/run/clamav/clamd.ctl) nor host:port (127.0.0.1:3310)"
            ),
        }
    }
}

impl std::fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClamdAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ClamdAddress::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClamdEngine {
    address: ClamdAddress,
    connect_timeout: Duration,
    io_timeout: Duration,
    reply_timeout: Duration,
    scan_members: bool,
}

impl ClamdEngine {
    pub fn from_config(config: &ClamdConfig) -> Result<Self> {
        Ok(ClamdEngine {
            address: ClamdAddress::parse(&config.address)?,
            connect_timeout: Duration::from_secs(config.connect_timeout_seconds.max(1)),
            io_timeout: Duration::from_secs(config.io_timeout_seconds.max(1)),
            reply_timeout: Duration::from_secs(config.reply_timeout_seconds.max(1)),
            scan_members: config.scan_members,
        })
    }

    pub fn address(&self) -> &ClamdAddress {
        &self.address
    }

    fn connect(&self) -> io::Result<Conn> {
        let conn = match &self.address {
            ClamdAddress::Unix(path) => Conn::Unix(UnixStream::connect(path)?),
            ClamdAddress::Tcp(addr) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address resolved");
                let mut found = None;
                for sa in addr.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&sa, self.connect_timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let stream = found.ok_or(last)?;
                let _ = stream.set_nodelay(true);
                Conn::Tcp(stream)
            }
        };
        conn.set_timeouts(self.io_timeout)?;
        Ok(conn)
    }

    /// Sends a one-word command (`VERSION`, `PING`) and returns the reply.
    pub fn command(&self, command: &str) -> Result<String> {
        let mut conn = self
            .connect()
            .with_context(|| format!("cannot connect to clamd at {}", self.address))?;
        conn.write_all(format!("z{command}\0").as_bytes())
            .with_context(|| format!("cannot send {command} to clamd at {}", self.address))?;
        read_reply(&mut conn)
            .with_context(|| format!("no reply to {command} from clamd at {}", self.address))
    }
}

/// Parses `ClamAV 1.4.3/27000/Tue Nov 25 09:00:00 2026`: engine version,
/// database version, database date. A clamd with only local signatures
/// answers `ClamAV 1.4.3` alone.
pub fn parse_version(reply: &str) -> Result<EngineInfo> {
    let reply = reply.trim();
    if !reply.starts_with("ClamAV ") {
        bail!("unexpected VERSION reply from clamd: {reply:?}");
    }
    let mut parts = reply.splitn(3, '/');
    let engine = parts.next().unwrap_or(reply).trim();
    let database = parts.next().map(str::trim).filter(|d| !d.is_empty());
    let date = parts.next().map(str::trim).filter(|d| !d.is_empty());
    let signatures_updated = match date {
        Some(date) => Some(parse_clamd_date(date).with_context(|| {
            format!("cannot read the signature date in clamd's VERSION reply {reply:?}")
        })?),
        None => None,
    };
    let version = match database {
        Some(db) => format!("{engine} (signatures {db})"),
        None => engine.to_string(),
    };
    Ok(EngineInfo {
        version,
        signatures_updated,
    })
}

/// `Tue Nov 25 09:00:00 2026` (C's `ctime` without the newline, day of
/// month space-padded), taken as UTC: clamd prints the database build time
/// in the daemon's local zone, and on servers that is UTC; an hour-level
/// error does not matter for a staleness warning.
fn parse_clamd_date(text: &str) -> Result<OffsetDateTime> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [_weekday, month, day, clock, year] = fields.as_slice() else {
        bail!("expected 'Day Mon DD HH:MM:SS YYYY'");
    };
    let month = match *month {
        "Jan" => time::Month::January,
        "Feb" => time::Month::February,
        "Mar" => time::Month::March,
        "Apr" => time::Month::April,
        "May" => time::Month::May,
        "Jun" => time::Month::June,
        "Jul" => time::Month::July,
        "Aug" => time::Month::August,
        "Sep" => time::Month::September,
        "Oct" => time::Month::October,
        "Nov" => time::Month::November,
        "Dec" => time::Month::December,
        other => bail!("unknown month {other:?}"),
    };
    let mut hms = clock.split(':').map(str::parse::<u8>);
    let (Some(Ok(h)), Some(Ok(m)), Some(Ok(s)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        bail!("bad time of day {clock:?}");
    };
    let date = time::Date::from_calendar_date(year.parse()?, month, day.parse()?)?;
    Ok(date.with_hms(h, m, s)?.assume_utc())
}

/// What a reply to INSTREAM means.
pub fn interpret_reply(reply: &str) -> EngineResult {
    let reply = reply.trim();
    if reply.is_empty() {
        return EngineResult::Unscanned {
            reason: "clamd closed the connection without a verdict".into(),
        };
    }
    if reply.ends_with("ERROR") {
        let reason = if reply.contains("size limit exceeded") {
            format!("{reply} (the file is larger than clamd's StreamMaxLength)")
        } else {
            reply.to_string()
        };
        return EngineResult::Unscanned { reason };
    }
    let body = reply.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => EngineResult::Clean,
        Some(body) if body.ends_with(" FOUND") => {
            let name = body.trim_end_matches(" FOUND").trim().to_string();
            if name.starts_with("Heuristics.Limits.Exceeded") {
                EngineResult::Unscanned {
                    reason: format!("clamd stopped at one of its limits ({name})"),
                }
            } else if name.starts_with("Heuristics.Encrypted") {
                EngineResult::Unscanned {
                    reason: format!("clamd found encrypted content it cannot open ({name})"),
                }
            } else {
                EngineResult::Infected { signature: name }
            }
        }
        _ => EngineResult::Unscanned {
            reason: format!("unexpected reply from clamd: {reply:?}"),
        },
    }
}

/// Reads up to a NUL (clamd's `z` commands) or the end of the connection.
fn read_reply(conn: &mut dyn Read) -> io::Result<String> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        reply.extend_from_slice(crate::filled(&buf, n));
        if let Some(end) = reply.iter().position(|&b| b == 0) {
            reply.truncate(end);
            break;
        }
        if reply.len() > MAX_REPLY {
            reply.truncate(MAX_REPLY);
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Conn::Unix(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
        }
    }

    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(Some(timeout)),
            Conn::Tcp(s) => s.set_read_timeout(Some(timeout)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

impl Engine for ClamdEngine {
    fn name(&self) -> &str {
        "clamd"
    }

    fn info(&self) -> Result<EngineInfo> {
        parse_version(&self.command("VERSION")?)
    }

    fn scans_members(&self) -> bool {
        self.scan_members
    }

    fn start(&self) -> Box<dyn EngineSession + '_> {
        let conn = self
            .connect()
            .map_err(|e| format!("cannot connect to clamd at {}: {e}", self.address))
            .and_then(|mut conn| {
                conn.write_all(b"zINSTREAM\0").map_err(|e| {
                    format!("cannot start INSTREAM on clamd at {}: {e}", self.address)
                })?;
                Ok(conn)
            });
        let (conn, error) = match conn {
            Ok(conn) => (Some(conn), None),
            Err(e) => (None, Some(e)),
        };
        Box::new(ClamdSession {
            engine: self,
            conn,
            buf: Vec::new(),
            error,
        })
    }
}

struct ClamdSession<'e> {
    engine: &'e ClamdEngine,
    conn: Option<Conn>,
    buf: Vec<u8>,
    error: Option<String>,
}

impl ClamdSession<'_> {
    fn send_frame(&mut self) {
        if self.buf.is_empty() || self.error.is_some() {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // FRAME fits in u32 by construction.
        let len = u32::try_from(self.buf.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        let sent = conn
            .write_all(&len)
            .and_then(|()| conn.write_all(&self.buf));
        self.buf.clear();
        if let Err(e) = sent {
            self.lost(&e);
        }
    }

    /// The connection broke while sending: clamd may have said why before
    /// closing (e.g. the size limit), so read what it left.
    fn lost(&mut self, error: &io::Error) {
        let said = self.conn.as_mut().and_then(|conn| {
            conn.set_read_timeout(Duration::from_secs(2)).ok()?;
            read_reply(conn).ok().filter(|r| !r.trim().is_empty())
        });
        self.conn = None;
        self.error = Some(match said {
            Some(reply) => match interpret_reply(&reply) {
                EngineResult::Unscanned { reason } => reason,
                _ => format!("clamd answered {reply:?} before the stream was complete"),
            },
            None => format!(
                "lost the connection to clamd at {} while sending the file: {error}",
                self.engine.address
            ),
        });
    }
}

impl EngineSession for ClamdSession<'_> {
    fn update(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && self.error.is_none() {
            let take = chunk.len().min(FRAME - self.buf.len());
            let (now, later) = chunk.split_at_checked(take).unwrap_or((chunk, &[]));
            self.buf.extend_from_slice(now);
            chunk = later;
            if self.buf.len() == FRAME {
                self.send_frame();
            }
        }
    }

    fn finish(mut self: Box<Self>, _digest: &StreamDigest) -> EngineResult {
        self.send_frame();
        if let Some(reason) = self.error.take() {
            return EngineResult::Unscanned { reason };
        }
        let Some(mut conn) = self.conn.take() else {
            return EngineResult::Unscanned {
                reason: "no connection to clamd".into(),
            };
        };
        if let Err(e) = conn.write_all(&[0, 0, 0, 0]) {
            self.conn = Some(conn);
            self.lost(&e);
            return EngineResult::Unscanned {
                reason: self.error.take().unwrap_or_else(|| e.to_string()),
            };
        }
        // clamd scans only now; give it the longer reply time-out.
        if let Err(e) = conn.set_read_timeout(self.engine.reply_timeout) {
            return EngineResult::Unscanned {
                reason: format!("cannot set the reply time-out: {e}"),
            };
        }
        match read_reply(&mut conn) {
            Ok(reply) => interpret_reply(&reply),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                EngineResult::Unscanned {
                    reason: format!(
                        "clamd at {} gave no verdict within {} s",
                        self.engine.address,
                        self.engine.reply_timeout.as_secs()
                    ),
                }
            }
            Err(e) => EngineResult::Unscanned {
                reason: format!(
                    "lost the connection to clamd at {} before its verdict: {e}",
                    self.engine.address
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn addresses() {
        assert_eq!(
            ClamdAddress::parse("/run/clamav/clamd.ctl").expect("path"),
            ClamdAddress::Unix("/run/clamav/clamd.ctl".into())
        );
        assert_eq!(
            ClamdAddress::parse("unix:/tmp/c.sock").expect("unix"),
            ClamdAddress::Unix("/tmp/c.sock".into())
        );
        assert_eq!(
            ClamdAddress::parse("tcp:127.0.0.1:3310").expect("tcp"),
            ClamdAddress::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            ClamdAddress::parse("localhost:3310").expect("host"),
            ClamdAddress::Tcp("localhost:3310".into())
        );
        assert!(ClamdAddress::parse("clamd").is_err());
        assert!(ClamdAddress::parse("host:notaport").is_err());
    }

    #[test]
    fn version_replies() {
        let info = parse_version("ClamAV 1.4.3/27831/Tue Nov 25 09:31:02 2025\n").expect("full");
        assert_eq!(info.version, "ClamAV 1.4.3 (signatures 27831)");
        assert_eq!(
            info.signatures_updated,
            Some(time::macros::datetime!(2025-11-25 09:31:02 UTC))
        );
        let info = parse_version("ClamAV 1.4.6/1/Sun Mar  1 00:00:00 2026").expect("padded day");
        assert_eq!(
            info.signatures_updated,
            Some(time::macros::datetime!(2026-03-01 00:00:00 UTC))
        );
        let bare = parse_version("ClamAV 1.4.6").expect("bare");
        assert_eq!(bare.version, "ClamAV 1.4.6");
        assert_eq!(bare.signatures_updated, None);
        assert!(parse_version("UNKNOWN COMMAND").is_err());
        assert!(parse_version("ClamAV 1.0/1/someday").is_err());
    }

    #[test]
    fn replies_fail_closed() {
        assert_eq!(interpret_reply("stream: OK"), EngineResult::Clean);
        assert_eq!(
            interpret_reply("stream: Sekisho.Test.UNOFFICIAL FOUND"),
            EngineResult::Infected {
                signature: "Sekisho.Test.UNOFFICIAL".into()
            }
        );
        for reply in [
            "",
            "INSTREAM size limit exceeded. ERROR",
            "stream: Can't allocate memory ERROR",
            "stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
            "stream: Heuristics.Encrypted.Zip FOUND",
            "something else",
        ] {
            assert!(
                matches!(interpret_reply(reply), EngineResult::Unscanned { .. }),
                "{reply:?}"
            );
        }
    }

    fn digest() -> StreamDigest {
        StreamDigest {
            sha256: [0; 32],
            size: 0,
        }
    }

    fn clamd_at(address: &str) -> ClamdEngine {
        ClamdEngine::from_config(&ClamdConfig {
            address: address.into(),
            reply_timeout_seconds: 1,
            ..ClamdConfig::default()
        })
        .expect("engine")
    }

    #[test]
    fn unreachable_clamd_is_unscanned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = clamd_at(&dir.path().join("missing.sock").display().to_string());
        let mut session = engine.start();
        session.update(b"data");
        let result = session.finish(&digest());
        assert!(
            matches!(&result, EngineResult::Unscanned { reason } if reason.contains("cannot connect")),
            "{result:?}"
        );
        assert!(engine.info().is_err());
    }

    /// A fake clamd that checks the framing and answers with `reply`, or
    /// never answers.
    fn fake_clamd(reply: Option<&'static str>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut command = [0u8; 10];
            s.read_exact(&mut command).expect("command");
            assert_eq!(&command, b"zINSTREAM\0");
            let mut data = Vec::new();
            loop {
                let mut len = [0u8; 4];
                s.read_exact(&mut len).expect("len");
                let len = u32::from_be_bytes(len) as usize;
                if len == 0 {
                    break;
                }
                let mut chunk = vec![0u8; len];
                s.read_exact(&mut chunk).expect("chunk");
                data.extend_from_slice(&chunk);
            }
            match reply {
                Some(reply) => s.write_all(reply.as_bytes()).expect("reply"),
                None => std::thread::sleep(Duration::from_secs(3)),
            }
            data
        });
        (addr, handle)
    }

    #[test]
    fn instream_framing_and_verdicts() {
        let (addr, server) = fake_clamd(Some("stream: Fake.Sig FOUND\0"));
        let engine = clamd_at(&addr);
        let mut session = engine.start();
        let payload: Vec<u8> = (0..(FRAME * 2 + 123)).map(|i| (i % 251) as u8).collect();
        for part in payload.chunks(1000) {
            session.update(part);
        }
        assert_eq!(
            session.finish(&digest()),
            EngineResult::Infected {
                signature: "Fake.Sig".into()
            }
        );
        assert_eq!(server.join().expect("server"), payload);

        let (addr, server) = fake_clamd(None);
        let engine = clamd_at(&addr);
        let mut session = engine.start();
        session.update(b"slow");
        let result = session.finish(&digest());
        assert!(
            matches!(&result, EngineResult::Unscanned { reason } if reason.contains("no verdict within")),
            "{result:?}"
        );
        server.join().expect("server");
    }
}
