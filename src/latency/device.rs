//! What a latency was measured on: the device kind, the CPU model or GPU
//! name, the backend and its threads. Every measurement row carries it, and
//! a run refuses (or warns about) a measurement of another device.

use serde::{Deserialize, Serialize};

use crate::backend::DeviceKind;

/// The machine a measurement was made on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// `cpu`, `flex`, `cuda` or `wgpu` (the config's `device`).
    pub device: String,
    /// The CPU model (`/proc/cpuinfo`) or the GPU's name.
    pub device_name: String,
    /// The backend as result tables name it.
    pub backend: String,
    /// Threads the backend computed with.
    pub threads: usize,
}

impl DeviceInfo {
    /// This machine, for `kind` with `threads` threads.
    pub fn here(kind: DeviceKind, threads: usize) -> Self {
        let device_name = match kind {
            DeviceKind::Cuda => gpu_name().unwrap_or_else(|| "CUDA device 0".to_string()),
            DeviceKind::Wgpu => crate::backend::wgpu_adapter_name().unwrap_or_else(|| "wgpu adapter".to_string()),
            _ => cpu_model(),
        };
        Self { device: kind.name().to_string(), device_name, backend: kind.backend_name().to_string(), threads }
    }

    /// One line for messages: `cpu (AMD EPYC 7B13, ndarray, 1 thread)`.
    pub fn describe(&self) -> String {
        let s = if self.threads == 1 { "" } else { "s" };
        format!("{} ({}, {}, {} thread{s})", self.device, self.device_name, self.backend, self.threads)
    }
}

/// The CPU's model name, from `/proc/cpuinfo` (else the architecture).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH))
}

/// The first GPU's name from `nvidia-smi`, when it answers.
fn gpu_name() -> Option<String> {
    let out = std::process::Command::new("nvidia-smi").args(["--query-gpu=name", "--format=csv,noheader"]).output();
    let out = out.ok().filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout).lines().next().map(|l| l.trim().to_string()).filter(|l| !l.is_empty())
}
