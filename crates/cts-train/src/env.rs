//! The managed Python environment `cts train` runs in: pinned packages, the
//! llama.cpp converter's source, and the check that an existing environment
//! still matches the pins.
//!
//! Packages come through pip's own configuration (index, find-links, cache),
//! so a machine with a local mirror or a CPU-only torch index configured for
//! pip uses it; nothing here names a host.

/// Pinned trainer stack (`name==version`), installed in one `pip install`.
pub const PACKAGES: &[&str] = &[
    "torch==2.15.0",
    "transformers==5.24.0",
    "trl==1.16.0",
    "peft==0.21.2",
    "gguf==0.19.0",
    "accelerate==1.15.0",
    "safetensors==0.8.0",
    "datasets==5.2.0",
    // The llama.cpp converter imports these (its requirements file).
    "mistral-common==1.13.1",
    "sentencepiece==0.2.3",
];

/// DeepSpeed for `--launcher accelerate` on GPUs (ZeRO-2). Not installed by
/// `--prepare-env`: it is only useful on a CUDA machine, where the printed
/// plan tells the user to add it to the managed environment.
pub const DEEPSPEED_PIN: &str = "deepspeed==0.19.8";

/// The source distribution that vendors llama.cpp's `convert_hf_to_gguf.py`
/// (and the `gguf-py` it imports), the same version the test environment
/// builds llama.cpp from.
pub const CONVERTER_SDIST: &str = "llama-cpp-python==0.3.16";

/// The converter inside the unpacked source distribution.
pub const CONVERTER_IN_SDIST: &str = "vendor/llama.cpp/convert_hf_to_gguf.py";

/// Folder (inside the environment) the source distribution is unpacked to.
pub const CONVERTER_DIR: &str = "converter";

/// Python that exits 0 when every pinned package is installed at its pinned
/// version, else prints what differs and exits 1.
pub fn check_script() -> String {
    let pins = PACKAGES
        .iter()
        .filter_map(|p| p.split_once("=="))
        .map(|(n, v)| format!("({n:?}, {v:?})"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "import importlib.metadata as m, sys\nbad = []\nfor n, v in [{pins}]:\n    try:\n        got = m.version(n)\n    except m.PackageNotFoundError:\n        got = None\n    if got != v:\n        bad.append(f'{{n}} {{got or \"missing\"}} (pinned {{v}})')\nprint('; '.join(bad))\nsys.exit(1 if bad else 0)\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_package_is_pinned_to_one_version() {
        for p in PACKAGES {
            let (n, v) = p.split_once("==").unwrap();
            assert!(
                !n.is_empty() && v.chars().next().unwrap().is_ascii_digit(),
                "{p}"
            );
        }
        assert!(check_script().contains("(\"trl\", \"1.16.0\")"));
    }
}
