//! `--retry-failed`: the failed evaluations of every stage evaluated again,
//! and the rounds whose predictor learnt without one that succeeds now
//! trained and searched again.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use super::Workflow;
use crate::eval::Budget;
use crate::run::records::{EvalRecord, Phase, describe_failures, failures_by_stage, last_attempts};
use crate::run::state::{Pick, Stage};
use crate::space::SearchSpace;

impl<S: SearchSpace, B: AutodiffBackend> Workflow<'_, S, B> {
    /// With --retry-failed: evaluates again every architecture whose last
    /// evaluation failed, whatever its stage and round (each with its own
    /// budget, as a further attempt of its stage). Where a round's predictor
    /// learnt without one that succeeds now, goes back to that round's
    /// training (the architectures searched and evaluated since stay on
    /// record, none evaluated again; each round from there searches anew
    /// with the fuller predictor), unless --keep-later-stages.
    pub(super) fn retry_failed(&mut self) -> Result<()> {
        let failed: Vec<EvalRecord> =
            last_attempts(&self.evals).into_iter().filter(|e| e.accuracy.is_none()).cloned().collect();
        if failed.is_empty() {
            self.say("--retry-failed: no failed evaluation on record");
            return Ok(());
        }
        self.say(&format!(
            "--retry-failed: evaluating again {} failed evaluations: {}",
            failed.len(),
            describe_failures(&failures_by_stage(&self.evals))
        ));
        // exactly the failed trainings (slots), grouped by stage and budget
        type Trainings = Vec<(Pick, usize)>;
        let mut groups: Vec<(Phase, usize, Budget, Trainings)> = Vec::new();
        for e in &failed {
            let slot = (Pick::unscored(e.arch_key.clone(), e.genotype.clone()), e.repeat);
            match groups.iter_mut().find(|g| (g.0, g.1, g.2) == (e.phase, e.round, e.budget)) {
                Some(g) => g.3.push(slot),
                None => groups.push((e.phase, e.round, e.budget, vec![slot])),
            }
        }
        for (phase, round, budget, slots) in &groups {
            let slots: Vec<(&Pick, usize)> = slots.iter().map(|(p, r)| (p, *r)).collect();
            self.evaluate_slots(&slots, *phase, *round, *budget, true)?;
        }
        let now: Vec<&EvalRecord> = last_attempts(&self.evals);
        let recovered: Vec<&EvalRecord> =
            failed.iter().filter(|f| now.iter().any(|e| e.slot() == f.slot() && e.accuracy.is_some())).collect();
        self.say(&format!("--retry-failed: {} of the {} succeeded this time", recovered.len(), failed.len()));
        // the first round whose predictor would have learnt from one of them
        let budgets_equal = self.cfg.evaluator.config.budgets_equal();
        let first = recovered
            .iter()
            .filter_map(|e| match e.phase {
                Phase::Data => Some(0),
                Phase::Final if budgets_equal => Some(e.round + 1),
                _ => None,
            })
            .min()
            .filter(|&r| r < self.trained_rounds() && self.cfg.strategy.uses_predictor());
        if let Some(r) = first {
            let missed = recovered
                .iter()
                .filter(|e| match e.phase {
                    Phase::Data => true,
                    Phase::Final => budgets_equal && e.round < r,
                    Phase::Baseline(_) | Phase::Reference => false,
                })
                .count();
            if self.opts.keep_later_stages {
                self.say(&format!(
                    "--keep-later-stages: round {r}'s predictor learnt without {missed} of these evaluations; it and \
                     the searches since are kept as they are (the next rounds' predictors learn from them)"
                ));
            } else {
                self.rewind_to_training(r, missed)?;
            }
        }
        if self.state.stage == Stage::Done {
            // the report counts the evaluations again
            self.state.stage = Stage::Report;
        }
        self.save()
    }

    /// Goes back to round `r`'s predictor training, whose predictor learnt
    /// without `missed` evaluations that succeed now.
    pub(super) fn rewind_to_training(&mut self, r: usize, missed: usize) -> Result<()> {
        let evaluated = self.state.all_top_k.iter().filter(|p| p.round >= r).count();
        self.say(&format!(
            "--retry-failed: round {r}'s predictor learnt without {missed} evaluations that succeeded now: training it \
             again and going on from there; the {evaluated} architectures rounds {r}.. picked stay on record and are not \
             evaluated again, and each round from {r} on searches anew and evaluates its top-K among the architectures \
             not yet measured (--keep-later-stages keeps the rounds as they are instead)"
        ));
        // every round from r trains from scratch: its folder (weights, or a training's resume
        // points of other data) goes when that round's training starts, as the checkpoint says
        let last = self.trained_rounds().max(self.state.round).max(self.cfg.search.rounds);
        self.state.discard = (r..=last).collect();
        self.state.round = r;
        self.state.stage = Stage::Train;
        self.state.evolution = None;
        self.state.front = None;
        self.state.top_k.clear();
        Ok(())
    }
}
