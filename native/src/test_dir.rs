//! Scratch directories for tests, removed again when the test is over.

use std::path::{Path, PathBuf};

/// A fresh directory under the OS temp folder, unique to this process and `name`, deleted (with
/// everything in it) when dropped. Bind it to a local for the whole test:
/// `test_dir(..).join(..)` as a temporary would delete the directory before the path is used.
#[must_use = "the directory is deleted as soon as the guard is dropped"]
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dvd-test-{}-{name}", std::process::id()));
        // A directory left by a crashed run of the same pid would hold stale files.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_lives_as_long_as_its_guard() {
        let dir = TestDir::new("guard");
        let file = dir.join("f");
        std::fs::write(&file, b"x").unwrap();
        let path = dir.path().to_path_buf();
        assert!(file.exists());
        drop(dir);
        assert!(!path.exists());
    }
}
