//! CIFAR-10 in its official binary format: `data_batch_1.bin` ..
//! `data_batch_5.bin` and `test_batch.bin`, each a sequence of 3,073-byte
//! records (one label byte, then 1,024 red, 1,024 green, 1,024 blue bytes of
//! a 32x32 image); and the download that fetches them.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::image_set::ImageSet;

const RECORD: usize = 1 + 3 * 32 * 32;
pub const TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub const TEST_FILE: &str = "test_batch.bin";
/// The official archive and its MD5 sum.
pub const URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
pub const MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// Records per file in the official release.
pub const OFFICIAL_RECORDS: usize = 10_000;

/// The folder that holds the files: `dir` itself, or the archive's
/// `cifar-10-batches-bin` inside it.
fn files_dir(dir: &Path) -> PathBuf {
    let inner = dir.join("cifar-10-batches-bin");
    if !dir.join(TEST_FILE).exists() && inner.join(TEST_FILE).exists() { inner } else { dir.to_path_buf() }
}

/// Reads one batch file into `set`.
pub fn read_file(path: &Path, set: &mut ImageSet) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read CIFAR-10 file {} (fetch the data with `nas-search data cifar10 --dir DIR`)",
            path.display()
        )
    })?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        bail!(
            "{}: {} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated or not a CIFAR-10 binary file)",
            path.display(),
            bytes.len()
        );
    }
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            bail!("{}: record {i} has label {}, expected 0..9", path.display(), rec[0]);
        }
        set.push(&rec[1..], rec[0] as u16);
    }
    Ok(())
}

/// Loads the training and test sets from `dir`.
pub fn load(dir: &Path) -> Result<(ImageSet, ImageSet)> {
    let dir = files_dir(dir);
    let mut train = ImageSet::new(32, 10);
    for f in TRAIN_FILES {
        read_file(&dir.join(f), &mut train)?;
    }
    let mut test = ImageSet::new(32, 10);
    read_file(&dir.join(TEST_FILE), &mut test)?;
    Ok((train, test))
}

/// Whether `dir` holds the complete official release.
pub fn is_complete(dir: &Path) -> bool {
    let dir = files_dir(dir);
    TRAIN_FILES
        .iter()
        .chain(std::iter::once(&TEST_FILE))
        .all(|f| std::fs::metadata(dir.join(f)).is_ok_and(|m| m.len() as usize == OFFICIAL_RECORDS * RECORD))
}

/// Downloads the official archive, checks its MD5 sum and unpacks the six
/// batch files into `dir`. Does nothing when they are already there.
pub fn download(dir: &Path) -> Result<()> {
    if is_complete(dir) {
        eprintln!("CIFAR-10 is already complete in {}", dir.display());
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    eprintln!("downloading {URL} ...");
    let response = ureq::get(URL).call().map_err(|e| {
        anyhow::anyhow!(
            "cannot download {URL}: {e}. Without a network connection, copy the six .bin files of \
             cifar-10-binary.tar.gz into {} by hand",
            dir.display()
        )
    })?;
    let mut archive = Vec::new();
    response.into_reader().read_to_end(&mut archive).context("download interrupted")?;
    let sum = format!("{:x}", md5::compute(&archive));
    if sum != MD5 {
        bail!("{URL}: MD5 sum {sum} does not match the official {MD5} (corrupt download?)");
    }
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
    for entry in tar.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let path = entry.path()?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if name.ends_with(".bin") {
            let tmp = dir.join(format!("{name}.part"));
            entry.unpack(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, dir.join(&name))?;
        }
    }
    if !is_complete(dir) {
        bail!("the archive did not hold the six CIFAR-10 batch files");
    }
    eprintln!("CIFAR-10 ready in {} (MD5 {MD5} verified)", dir.display());
    Ok(())
}
