//! `--launcher accelerate`: the command and the documented Accelerate
//! (DeepSpeed ZeRO-2) configuration for running the same runner script
//! across the GPUs of one machine. CTS prints it, or with `--run` runs it
//! and records the result like a local run.

use std::str::FromStr;

use crate::TrainError;

/// Where the runner runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// This machine, `python runner.py` (CPU or one GPU).
    Local,
    /// `accelerate launch` for a multi-GPU machine: printed, or run with `--run`.
    Accelerate,
}

impl FromStr for Launcher {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Launcher::Local),
            "accelerate" => Ok(Launcher::Accelerate),
            other => Err(TrainError::UnknownLauncher {
                given: other.to_owned(),
            }),
        }
    }
}

/// The Accelerate config file written beside the runner. `gpus == 0` writes
/// a one-process CPU config: the same launcher, runner and recording path,
/// runnable on any machine (how CTS checks that path without a GPU).
pub fn accelerate_config(gpus: u32) -> String {
    if gpus == 0 {
        return "# Accelerate config written by `cts train --launcher accelerate --gpus 0`.\n\
# One CPU process, no DeepSpeed: checks the Accelerate path on a machine\n\
# without GPUs. On a GPU machine give --gpus N for the DeepSpeed config.\n\
compute_environment: LOCAL_MACHINE\n\
distributed_type: 'NO'\n\
mixed_precision: 'no'\n\
machine_rank: 0\n\
num_machines: 1\n\
num_processes: 1\n\
main_training_function: main\n\
rdzv_backend: static\n\
same_network: true\n\
use_cpu: true\n"
            .to_owned();
    }
    format!(
        "# Accelerate config written by `cts train --launcher accelerate`.\n\
# One machine, {gpus} GPU processes, DeepSpeed ZeRO stage 2 (optimizer\n\
# state and gradients sharded across GPUs; weights replicated, which suits\n\
# models that fit one GPU). For larger models set zero_stage: 3 and\n\
# zero3_init_flag: true. Mixed precision bf16 needs Ampere or newer GPUs.\n\
# Reference: `accelerate config --help`; the keys are Accelerate's own.\n\
compute_environment: LOCAL_MACHINE\n\
distributed_type: DEEPSPEED\n\
deepspeed_config:\n\
\x20 zero_stage: 2\n\
\x20 offload_optimizer_device: none\n\
\x20 offload_param_device: none\n\
\x20 gradient_clipping: 1.0\n\
\x20 zero3_init_flag: false\n\
mixed_precision: bf16\n\
machine_rank: 0\n\
num_machines: 1\n\
num_processes: {gpus}\n\
main_training_function: main\n\
rdzv_backend: static\n\
same_network: true\n\
use_cpu: false\n"
    )
}

/// The shell command that runs the runner under Accelerate.
pub fn accelerate_command(
    python: &str,
    config_yaml: &str,
    runner: &str,
    config_json: &str,
) -> String {
    format!(
        "{python} -m accelerate.commands.launch --config_file {config_yaml} {runner} {config_json}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerate_config_names_deepspeed_and_process_count() {
        let c = accelerate_config(8);
        assert!(c.contains("distributed_type: DEEPSPEED"));
        assert!(c.contains("num_processes: 8"));
        assert!(c.contains("  zero_stage: 2"));
    }

    #[test]
    fn zero_gpus_is_one_cpu_process_without_deepspeed() {
        let c = accelerate_config(0);
        assert!(c.contains("use_cpu: true"));
        assert!(c.contains("num_processes: 1"));
        assert!(!c.contains("DEEPSPEED"));
    }

    #[test]
    fn unknown_launcher_is_named() {
        assert_eq!(
            "slurm".parse::<Launcher>().unwrap_err().to_string(),
            "unknown launcher \"slurm\": use local or accelerate"
        );
    }
}
