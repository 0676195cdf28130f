//! `whoami`: who the stored session belongs to, asked of the gateway (so
//! an ended session is noticed), and a reminder when the password is still
//! the temporary one.

use anyhow::Result;
use sekisho_proto::UserInfo;

use crate::config::{Config, display_origin};
use crate::output::{print_json, short_time};

pub fn run(cfg: &Config) -> Result<()> {
    let (api, session) = super::logged_in(cfg)?;
    let me: UserInfo = api.get(api.url(&["whoami"])?)?;
    if cfg.json {
        return print_json(&me);
    }
    println!(
        "{} ({}) at {}; session until {}.",
        me.username,
        me.role,
        display_origin(api.base()),
        short_time(&session.expires_at)
    );
    if me.must_change_password {
        println!("Your password is temporary: run `sekisho password` to choose your own.");
    }
    Ok(())
}
