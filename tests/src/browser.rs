//! A real browser for the console tests: Debian's Chromium, headless,
//! driven over WebDriver by `chromedriver` through `fantoccini`. The
//! browser talks real HTTPS to the gateway; it is told to accept the
//! gateway's test CA the WebDriver way (`acceptInsecureCerts`), since a
//! throwaway profile has no trust store of its own to add it to.
//!
//! The methods block (the tests are synchronous) and panic with what was
//! looked for, the page's address and its text, so a failure reads as the
//! clerk would have seen it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::in_ci;

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// How long a page or an element may take to appear.
const WAIT: Duration = Duration::from_secs(30);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

impl Browser {
    /// A fresh headless Chromium with an empty profile. `None` outside CI
    /// when Chromium is not installed (the test then says so and passes);
    /// under CI a missing browser is a failure.
    pub fn start() -> Option<Browser> {
        let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
        if !present {
            assert!(
                !in_ci(),
                "Chromium and chromedriver are required under CI: apt-get install chromium chromium-driver"
            );
            eprintln!(
                "skipping: no {CHROMIUM} or {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        Some(Self::launch().unwrap_or_else(|e| panic!("cannot start Chromium: {e:#}")))
    }

    fn launch() -> Result<Browser> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let profile = tempfile::Builder::new()
            .prefix("sekisho-chromium")
            .tempdir()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // The flags the environment notes list: headless as root, and
        // nothing that reaches out to the (closed) network by itself.
        let capabilities = json!({
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000", "--lang=ja",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => bail!("capabilities are an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = runtime.block_on(
                ClientBuilder::new(connector)
                    .capabilities(capabilities.clone())
                    .connect(&url),
            );
            match attempt {
                Ok(client) => break client,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(e) => return Err(e).context("chromedriver did not open a session"),
            }
        };
        Ok(Browser {
            runtime,
            client: Some(client),
            driver,
            _profile: profile,
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open")
    }

    fn run<T>(
        &self,
        what: &str,
        future: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        match self.runtime.block_on(future) {
            Ok(value) => value,
            Err(e) => panic!(
                "{what}: {e}\n--- at {} ---\n{}",
                self.url(),
                self.page_text()
            ),
        }
    }

    pub fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client().goto(url));
    }

    /// The address the browser shows now.
    pub fn url(&self) -> String {
        self.runtime
            .block_on(self.client().current_url())
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// The path (and query) of the page shown now.
    pub fn path(&self) -> String {
        self.runtime
            .block_on(self.client().current_url())
            .map(|u| match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            })
            .unwrap_or_default()
    }

    /// The visible text of the whole page.
    pub fn page_text(&self) -> String {
        self.runtime
            .block_on(async {
                let body = self.client().find(Locator::Css("body")).await?;
                body.text().await
            })
            .unwrap_or_default()
    }

    /// Waits for the element `css` and returns it.
    fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.run(
            &format!("no element '{css}'"),
            self.client()
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css)),
        )
    }

    pub fn exists(&self, css: &str) -> bool {
        self.runtime
            .block_on(self.client().find_all(Locator::Css(css)))
            .map(|found| !found.is_empty())
            .unwrap_or(false)
    }

    pub fn fill(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.run(&format!("clear '{css}'"), element.clear());
        self.run(&format!("type into '{css}'"), element.send_keys(text));
    }

    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.run(&format!("click '{css}'"), element.click());
    }

    pub fn select(&self, css: &str, value: &str) {
        let element = self.element(css);
        self.run(
            &format!("choose '{value}' in '{css}'"),
            element.select_by_value(value),
        );
    }

    /// Chooses local files in a file input (chromedriver reads the paths).
    pub fn choose_files(&self, css: &str, files: &[&Path]) {
        let list = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let element = self.element(css);
        self.run(
            &format!("choose files in '{css}'"),
            element.send_keys(&list),
        );
    }

    pub fn text(&self, css: &str) -> String {
        self.read(&format!("read '{css}'"), css, |element| async move {
            element.text().await
        })
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.read(
            &format!("read '{name}' of '{css}'"),
            css,
            |element| async move { element.attr(name).await },
        )
    }

    /// Finds `css` and reads from it, finding it again when the page was
    /// replaced in between (a form that was just submitted: the old page's
    /// element goes stale when the new page arrives).
    fn read<T, F>(
        &self,
        what: &str,
        css: &str,
        read: impl Fn(fantoccini::elements::Element) -> F,
    ) -> T
    where
        F: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            let element = self.element(css);
            match self.runtime.block_on(read(element)) {
                Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                done => return self.run(what, std::future::ready(done)),
            }
        }
    }

    /// Waits until the address shown contains `fragment` (after a form's
    /// submission, before reading the page it leads to).
    pub fn wait_for_path(&self, fragment: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.path().contains(fragment) {
            if Instant::now() > deadline {
                panic!(
                    "the address never contained '{fragment}': {}\n{}",
                    self.url(),
                    self.page_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page's text contains `needle`.
    pub fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.page_text();
            if text.contains(needle) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "'{needle}' never appeared\n--- at {} ---\n{text}",
                    self.url()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a script in the page and returns its value.
    pub fn execute(&self, script: &str) -> Value {
        self.run("run a script", self.client().execute(script, Vec::new()))
    }

    /// The browser's cookies for the current page, as (name, value).
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.run("read cookies", self.client().get_all_cookies())
            .into_iter()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect()
    }

    /// Saves a screenshot of the page as `NAME.png` in the folder named by
    /// `SEKISHO_SCREENSHOT_DIR`, when it is set (the README's pictures in
    /// `docs/screenshots/` are made this way); otherwise does nothing.
    pub fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SEKISHO_SCREENSHOT_DIR") else {
            return;
        };
        let png = self.run("take a screenshot", self.client().screenshot());
        let path = Path::new(&dir).join(format!("{name}.png"));
        std::fs::create_dir_all(Path::new(&dir)).expect("screenshot folder");
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Forgets every cookie (a new person at the same browser).
    pub fn clear_cookies(&self) {
        self.run("delete cookies", self.client().delete_all_cookies());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
