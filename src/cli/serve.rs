//! `serve` (the live page of runs) and `plot` (a run's pictures).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Run directories, or folders holding them (searched recursively).
    #[arg(default_value = "runs")]
    pub dirs: Vec<PathBuf>,
    /// Port to listen on (0: any free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on (other machines reach any but 127.0.0.1 and ::1).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Do not ask for the token printed at start: for 127.0.0.1 on a
    /// machine no one else logs into (on a shared login node every user reaches the port).
    #[arg(long)]
    pub no_token: bool,
    /// Seconds a connection may take to send a request, or stay idle, before it is closed.
    #[arg(long, default_value_t = 20.0)]
    pub idle_timeout: f64,
}

/// Serve a live, read-only page over run directories: every run's status and best so far, a run's
/// pictures, evaluations, top-K, config and log as the run goes, several runs compared.
pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    let ServeArgs { dirs, port, host, no_token, idle_timeout } = a;
    let opts = nas_search::serve::ServeOptions { dirs, host, port, token: !no_token, idle_timeout_s: idle_timeout };
    nas_search::serve::serve(opts)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct PlotArgs {
    /// Run directories (or one `predictor train` directory).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the SVG files go (default: RUN_DIR/plots, or plots/ for several runs).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Draw a run's plots as SVG (progress, predicted vs measured, predictor training, accuracy vs cost,
/// best architecture); several run directories: their progress, one line per method.
pub fn plot(a: PlotArgs) -> Result<ExitCode> {
    let PlotArgs { dirs, out } = a;
    for path in nas_search::plot::plot(&dirs, out.as_deref())? {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
