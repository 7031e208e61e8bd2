//! The end of a run: its report (topk.csv, summary.csv, summary.md, the
//! front) and its pictures.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use super::Workflow;
use crate::space::SearchSpace;

impl<S: SearchSpace, B: AutodiffBackend> Workflow<'_, S, B> {
    /// Draws the run's pictures into `plots/` as the run stands: after the
    /// predictor's data, after every round and at the report, so that they
    /// (and `nas-search serve`) follow a run that takes days. Pictures never
    /// fail a run: a plotting error is logged.
    pub(super) fn draw_pictures(&self) {
        match crate::plot::after_report(&self.dir.root) {
            Ok(files) => self.dir.log(&format!("plots: {} files in {}", files.len(), self.dir.path("plots").display())),
            Err(e) => self.say(&format!("plots could not be drawn: {e:#}")),
        }
    }

    pub(super) fn report(&self) -> Result<()> {
        let row = crate::report::write(
            self.dir,
            &crate::report::ReportInput {
                strategy: self.cfg.strategy,
                space: self.space.name(),
                seed: self.cfg.seed,
                evals: &self.evals,
                top_k: &self.state.all_top_k,
                budgets_equal: self.cfg.evaluator.config.budgets_equal(),
                measures: self.evaluator.measures(),
                device: self.cfg.device,
                predictor_seconds: self.state.predictor_seconds.iter().sum(),
                search_seconds: self.state.search_seconds,
                scored: self.state.scored,
                front: self.cfg.search.objectives.get(1).map(|&cost| crate::report::front::FrontSpec {
                    cost,
                    reference: self.cfg.reference_cost().expect("checked by RunConfig::load"),
                }),
                latency_bound: self.cfg.constraints.latency_ms,
                exhausted: self.state.exhausted.as_deref(),
                reference: self.cfg.search.reference.as_ref().map(|r| r.name.as_str()),
                latency: self.latency.map(|l| crate::report::LatencyNote {
                    predicted: l.describe_predicted(),
                    measured: l.describe_measured(),
                }),
            },
        )?;
        self.draw_pictures();
        self.say(&format!(
            "best: {} at {} ({:.2}M params, {:.1}M MACs); {} real evaluations",
            row.top1.map_or("-".into(), |a| format!("{a:.2}%")),
            row.best_genotype,
            row.params_m,
            row.macs_m,
            row.archs_trained
        ));
        Ok(())
    }
}
