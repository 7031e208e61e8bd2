//! The predictor's stages: its training data sampled (and evaluated, proxy
//! budget), with earlier runs' rows added; a round's predictor trained on
//! every measurement so far, and loaded back.

use std::collections::HashSet;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;

use super::Workflow;
use crate::eval::Budget;
use crate::predictor::Predictor;
use crate::predictor::dataset::encode_graphs;
use crate::predictor::fit::{self, FitData};
use crate::progress::bar;
use crate::run::records::{EvalRecord, last_attempts};
use crate::run::selection::{self, TrainingRow};
use crate::run::state::{Pick, Stage, rng_for};
use crate::search::random;
use crate::space::SearchSpace;

impl<S: SearchSpace, B: AutodiffBackend> Workflow<'_, S, B> {
    pub(super) fn sample_data(&mut self) -> Result<()> {
        let n = self.predictor_section().train_archs;
        let mut rng = rng_for(self.cfg.seed, "data", 0, 0);
        let mut seen = HashSet::new();
        let mut picks = Vec::with_capacity(n);
        while picks.len() < n {
            let g = random::propose(self.space, &self.cfg.constraints, &mut rng, &seen)
                .map_err(|e| self.search_error(e))?;
            let key = self.space.key(&g);
            seen.insert(key.clone());
            picks.push(Pick::unscored(key, self.space.format(&g)));
        }
        self.say(&format!("sampled {n} architectures for the predictor's training data"));
        self.state.data = picks;
        self.state.stage = Stage::EvaluateData;
        Ok(())
    }

    /// Successful rows of the `predictor.extra_data` files, each checked against the space.
    pub(super) fn extra_data(&self) -> Result<Vec<EvalRecord>> {
        let mut out = Vec::new();
        for path in &self.predictor_section().extra_data {
            let mut r =
                csv::Reader::from_path(path).with_context(|| format!("predictor.extra_data: {}", path.display()))?;
            for (i, rec) in r.deserialize::<EvalRecord>().enumerate() {
                let rec = rec.with_context(|| format!("{} is not an evaluations.csv", path.display()))?;
                rec.check_numbers()
                    .map_err(|e| anyhow::anyhow!("predictor.extra_data: {}: row {}: {e}", path.display(), i + 2))?;
                if rec.accuracy.is_some() {
                    self.space.parse(&rec.genotype).with_context(|| format!("{}: {}", path.display(), rec.genotype))?;
                    out.push(rec);
                }
            }
        }
        Ok(out)
    }

    /// Trains this round's predictor on everything measured.
    pub(super) fn train(&mut self) -> Result<()> {
        let p = self.predictor_section();
        let round = self.state.round;
        if self.state.discard.contains(&round) {
            let dir = self.dir.path(&format!("predictor/round-{round}"));
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            self.state.discard.retain(|&q| q != round);
            self.save()?;
        }
        let budgets_equal = self.cfg.evaluator.config.budgets_equal();
        let rows: Vec<TrainingRow> = selection::training_rows(&self.evals, &self.extra_data()?, budgets_equal);
        let left_out =
            last_attempts(&self.evals).iter().filter(|e| e.budget == Budget::Final && e.accuracy.is_some()).count();
        if !budgets_equal && left_out > 0 {
            self.say(&format!(
                "round {round}: the predictor learns from proxy-budget accuracies only; the {left_out} final-budget \
                 ones are of another training and are left out (equal budgets would use them)"
            ));
        }
        anyhow::ensure!(rows.len() >= 4, "only {} successful evaluations to train the predictor on", rows.len());
        let (mut val, mut trn) =
            selection::split(rows.len(), p.val_fraction, &mut rng_for(self.cfg.seed, "split", round, 0));
        if !val.is_empty() && val.len() < selection::MIN_VALIDATION {
            self.say(&format!(
                "round {round}: {} held-out architectures are too few for a validation tau to choose the weights \
                 (at least {} are needed): the predictor trains on all {} and its weights are chosen by training tau \
                 (raise predictor.train_archs or val_fraction for a validation set, or set val_fraction: 0)",
                val.len(),
                selection::MIN_VALIDATION,
                rows.len()
            ));
            trn.append(&mut val);
        }
        let graphs: Vec<_> = rows
            .iter()
            .map(|r| self.space.parse(&r.genotype).map(|g| self.space.to_graph(&g)))
            .collect::<Result<_>>()?;
        let mut set = encode_graphs(&graphs, &p.model)?;
        let label = |i: &usize| (rows[*i].accuracy / 100.0) as f32;
        // without a validation share, weights are selected on the training set
        let val_rows: Vec<usize> = if val.is_empty() { trn.clone() } else { val.clone() };
        let data = FitData {
            set: &mut set,
            train_graphs: trn.iter().map(|&i| graphs[i].clone()).collect(),
            train_labels: trn.iter().map(label).collect(),
            train_rows: trn.clone(),
            val_labels: val_rows.iter().map(label).collect(),
            val_rows,
        };
        let out = self.dir.path(&format!("predictor/round-{round}"));
        self.say(&format!(
            "round {round}: training the predictor on {} architectures ({} held out)",
            trn.len(),
            val.len()
        ));
        let pb = bar(p.train.epochs as u64, "predictor", self.quiet);
        let outcome = fit::fit::<B>(&p.model, &p.train, data, &out, &self.device, |row| {
            pb.set_position(row.epoch as u64);
            let on = if val.is_empty() { "training" } else { "validation" };
            pb.set_message(format!("{on} tau {:.3}", row.val_tau.max(row.ema_val_tau)));
        })?;
        pb.finish_and_clear();
        // the round's log is also the run's predictor/train_log.csv
        std::fs::copy(out.join("train_log.csv"), self.dir.path("predictor/train_log.csv"))?;
        self.say(&format!(
            "round {round}: predictor trained in {:.1} s, best {} tau {:.3} (epoch {})",
            outcome.state.train_seconds,
            if val.is_empty() { "training" } else { "validation" },
            outcome.state.best_val_tau,
            outcome.state.best_epoch
        ));
        if self.state.predictor_seconds.len() <= round {
            self.state.predictor_seconds.resize(round + 1, 0.0);
        }
        self.state.predictor_seconds[round] = outcome.state.train_seconds;
        self.state.stage = Stage::Search;
        Ok(())
    }

    /// This round's trained predictor. The round's training is over (the
    /// checkpoint says Search): its resume checkpoints are dead weight and
    /// go; its best weights stay.
    pub(super) fn round_predictor(&self) -> Result<Predictor<B::InnerBackend>> {
        let round = self.state.round;
        let resume_points = self.dir.path(&format!("predictor/round-{round}/checkpoint"));
        if resume_points.exists() {
            std::fs::remove_dir_all(&resume_points).with_context(|| format!("removing {}", resume_points.display()))?;
        }
        let (model, _) = fit::load_best::<B::InnerBackend>(
            &self.predictor_section().model,
            &self.dir.path(&format!("predictor/round-{round}")),
            &self.device,
        )?;
        Ok(model)
    }
}
