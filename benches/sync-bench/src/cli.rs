//! The command line both benchmark binaries share (`mod cli;` in `sync-bench`, `#[path]` in
//! `webhook-bench`): options as `--name value` or `--name=value`, `-h`/`--help`, `--ci` for the
//! quick run, whole-number values. Each binary describes only its own options ([`Options`]).

use std::str::FromStr;

use anyhow::{bail, Context as _};

/// One binary's options.
pub(crate) trait Options: Sized {
    /// The usage text: printed for `--help`, appended to errors about a missing value or an
    /// unknown argument.
    const USAGE: &'static str;

    /// The options when none are given.
    fn defaults() -> Self;

    /// `--ci`: switch to the quick run (options after it still override).
    fn ci(&mut self);

    /// Takes the option `name` (its value, if it has one, from `value`); `Ok(false)` if the binary
    /// has no such option.
    fn option(&mut self, name: &str, value: &mut Value<'_>) -> anyhow::Result<bool>;

    /// Checks that need all the options, after the last one is read.
    fn check(&self) -> anyhow::Result<()>;
}

/// The value of the option being read: after its `=`, or else the next argument.
pub(crate) struct Value<'a> {
    name: &'a str,
    inline: Option<String>,
    rest: &'a mut dyn Iterator<Item = String>,
    usage: &'static str,
}

impl Value<'_> {
    pub(crate) fn text(&mut self) -> anyhow::Result<String> {
        let usage = self.usage;
        self.inline
            .clone()
            .or_else(|| self.rest.next())
            .with_context(|| format!("{} needs a value\n\n{usage}", self.name))
    }

    pub(crate) fn number<T: FromStr>(&mut self) -> anyhow::Result<T> {
        let text = self.text()?;
        number(self.name, &text)
    }
}

/// `text` as a whole number, or an error naming the option `name`.
pub(crate) fn number<T: FromStr>(name: &str, text: &str) -> anyhow::Result<T> {
    text.parse().ok().with_context(|| format!("{name}: {text:?} is not a whole number"))
}

/// The options in `raw` (the arguments after the program name); `None` for `--help`.
pub(crate) fn parse<T: Options>(raw: impl IntoIterator<Item = String>) -> anyhow::Result<Option<T>> {
    let mut args = T::defaults();
    let mut raw = raw.into_iter();
    while let Some(arg) = raw.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--ci" => args.ci(),
            other => {
                let mut value = Value { name: other, inline, rest: &mut raw, usage: T::USAGE };
                if !args.option(other, &mut value)? {
                    bail!("unknown argument {other:?}\n\n{}", T::USAGE);
                }
            }
        }
    }
    args.check()?;
    Ok(Some(args))
}

/// The options of this process's command line; `None` after printing the usage for `--help`.
pub(crate) fn from_env<T: Options>() -> anyhow::Result<Option<T>> {
    let args = parse(std::env::args().skip(1))?;
    if args.is_none() {
        println!("{}", T::USAGE);
    }
    Ok(args)
}

/// The end of every run: the correctness verdict. `ok` is printed when there is no problem;
/// otherwise each problem, and the run fails (its figures are not trustworthy).
pub(crate) fn verdict(problems: &[String], ok: &[&str]) -> anyhow::Result<()> {
    if problems.is_empty() {
        for line in ok {
            println!("{line}");
        }
        return Ok(());
    }
    println!("correctness: FAILED");
    for p in problems {
        println!("  {p}");
    }
    bail!("{} correctness problem(s): the figures above are not trustworthy", problems.len())
}
