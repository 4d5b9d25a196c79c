//! Writes email-like text with known tracking numbers for `scripts/bench-detect`.
//!
//! `cargo run --release -p parceltrail-detect --example email_text -- DIR [MB] [SEED] [CHUNK_MB]`
//! writes `DIR/text-NNN.txt` (whole emails, at most CHUNK_MB each, default 4: what
//! `parceltrail detect` reads at most) and `DIR/truth.txt` (the tracking numbers in them, one
//! a line, normalised).

use std::io::Write;

#[path = "../benches/support/email.rs"]
mod email;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: email_text DIR [MB] [SEED] [CHUNK_MB]");
        std::process::exit(2);
    };
    let arg = |i: usize, default: f64| {
        args.get(i)
            .map(|a| a.parse::<f64>().expect("a number"))
            .unwrap_or(default)
    };
    let bytes = (arg(1, 40.0) * 1e6) as usize;
    let seed = arg(2, 1.0) as u64;
    let chunk = (arg(3, 4.0) * 1024.0 * 1024.0) as usize;
    std::fs::create_dir_all(dir)?;
    let mut truth = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/truth.txt"))?);
    let mut files = 0;
    let mut text = String::with_capacity(chunk);
    let mut flush = |text: &mut String| -> std::io::Result<()> {
        std::fs::write(format!("{dir}/text-{files:03}.txt"), text.as_bytes())?;
        files += 1;
        text.clear();
        Ok(())
    };
    for e in email::emails(seed, bytes) {
        if text.len() + e.text.len() > chunk {
            flush(&mut text)?;
        }
        text.push_str(&e.text);
        for n in &e.numbers {
            writeln!(truth, "{n}")?;
        }
    }
    if !text.is_empty() {
        flush(&mut text)?;
    }
    truth.flush()
}
