//! Reading a command's input (a file, standard input) whole, but never without end: a pipe
//! or a device (`/dev/zero`) may not stop, so each command states the most it reads.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The most `import` reads (a CSV of a few hundred thousand parcels with their history).
pub const IMPORT_MAX: u64 = parceltrail_core::import::MAX_FILE;
/// The most `detect` and `add --from-text` read (an email, a page of text).
pub const TEXT_MAX: u64 = 4 << 20;
/// The most `carriers parse` reads: what the adapters accept from a carrier.
pub const PARSE_MAX: u64 = parceltrail_carriers::http::MAX_BODY as u64;
/// The most `eta-eval` reads (the Olist orders are 17 MiB).
pub const EVAL_MAX: u64 = 256 << 20;

/// At most `max` bytes of `inner`; a byte more is an error saying so.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    message: String,
}

impl<R: Read> Bounded<R> {
    /// `name` says what is read ("standard input", a file name) and `who` which command.
    pub fn new(inner: R, max: u64, name: &str, who: &str) -> Self {
        Self {
            inner,
            left: max,
            message: too_large(name, max, who),
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // Exactly at the limit is fine; anything after it is not.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    self.message.clone(),
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..want])?;
        self.left -= got as u64;
        Ok(got)
    }
}

fn too_large(name: &str, max: u64, who: &str) -> String {
    format!(
        "{name} is larger than {} MiB, the most `{who}` reads",
        max >> 20
    )
}

/// A file (or `-` for standard input) as a reader of at most `max` bytes.
fn open(arg: &str, max: u64, who: &str) -> Result<Bounded<Box<dyn Read>>> {
    if arg == "-" {
        return Ok(Bounded::new(
            Box::new(io::stdin().lock()),
            max,
            "standard input",
            who,
        ));
    }
    open_file(Path::new(arg), max, who)
}

/// A file as a reader of at most `max` bytes.
fn open_file(path: &Path, max: u64, who: &str) -> Result<Bounded<Box<dyn Read>>> {
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| format!("cannot read {name}"))?;
    // A regular file says its size: refuse before reading any of it.
    if let Ok(meta) = file.metadata()
        && meta.is_file()
        && meta.len() > max
    {
        bail!("{}", too_large(&name, max, who));
    }
    Ok(Bounded::new(Box::new(file), max, &name, who))
}

/// A file (or `-` for standard input) read whole, refused past `max` bytes.
pub fn read_all(arg: &str, max: u64, who: &str) -> Result<Vec<u8>> {
    let name = if arg == "-" { "standard input" } else { arg };
    read_to_end(open(arg, max, who)?, name)
}

/// A file read whole, refused past `max` bytes.
pub fn read_file(path: &Path, max: u64, who: &str) -> Result<Vec<u8>> {
    read_to_end(open_file(path, max, who)?, &path.display().to_string())
}

fn read_to_end(mut input: impl Read, name: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    input.read_to_end(&mut buf).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            anyhow::anyhow!("{e}")
        } else {
            anyhow::Error::new(e).context(format!("cannot read {name}"))
        }
    })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &[u8], max: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Bounded::new(data, max, "x", "test")
            .read_to_end(&mut out)
            .map(|_| out)
    }

    #[test]
    fn input_up_to_the_limit_is_read_and_one_byte_more_refused() {
        assert_eq!(read(b"abcd", 4).unwrap(), b"abcd");
        assert_eq!(read(b"abc", 4).unwrap(), b"abc");
        let err = read(b"abcde", 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("the most `test` reads"), "{err}");
    }
}
