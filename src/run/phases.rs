//! The workflow, stage by stage: sample the predictor's training data and
//! evaluate it (proxy budget), train the predictor, search with it, evaluate
//! the top-K (final budget), repeat for more rounds, report. The baselines
//! replace all of that with one stage of real-evaluation search. Every stage
//! can be interrupted and continued from the checkpoint.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;

use super::config::{PredictorSection, RunConfig, Strategy};
use super::fitness::PredictorFitness;
use super::run_dir::{EvalRecord, RunDir};
use super::state::{Pick, RunState, Stage, rng_for};
use crate::backend::{BackendTask, dispatch};
use crate::eval::{Budget, EvalJob, Evaluator};
use crate::predictor::dataset::{append_twins, encode_graphs};
use crate::predictor::train::{self, TrainData};
use crate::predictor::{Predictor, checkpoint};
use crate::search::evolution::{Evolution, Member};
use crate::search::local::LocalSearch;
use crate::search::{random, regularized};
use crate::space::SearchSpace;

/// Mutations of the best measured architecture drawn to find its neighbours (search.local_picks).
const NEIGHBOUR_DRAWS: usize = 1000;

pub struct Workflow<'a, S: SearchSpace> {
    pub cfg: &'a RunConfig,
    pub space: &'a S,
    pub dir: &'a RunDir,
    pub evaluator: &'a dyn Evaluator,
    pub state: RunState,
    pub evals: Vec<EvalRecord>,
    pub quiet: bool,
}

fn bar(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

impl<S: SearchSpace> Workflow<'_, S> {
    fn save(&self) -> Result<()> {
        self.state.save(&self.dir.path("checkpoint.json"))
    }

    fn say(&self, line: &str) {
        self.dir.log(line);
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    fn evaluated_keys(&self) -> HashSet<String> {
        self.evals.iter().map(|e| e.arch_key.clone()).collect()
    }

    /// Successful evaluations, most accurate first (ties by key).
    fn measured_best_first(&self) -> Vec<&EvalRecord> {
        let mut measured: Vec<&EvalRecord> = self.evals.iter().filter(|e| e.accuracy.is_some()).collect();
        measured.sort_by(|a, b| b.accuracy.partial_cmp(&a.accuracy).expect("finite").then(a.arch_key.cmp(&b.arch_key)));
        measured
    }

    /// Runs until the run is done.
    pub fn run(&mut self) -> Result<()> {
        loop {
            match self.state.stage {
                Stage::SampleData => self.sample_data()?,
                Stage::EvaluateData => {
                    let picks = self.state.data.clone();
                    self.evaluate(&picks, "data", Budget::Proxy)?;
                    self.state.stage = Stage::Train;
                }
                Stage::Train => self.train()?,
                Stage::Search => self.search()?,
                Stage::EvaluateFinal => {
                    let picks = self.state.top_k.clone();
                    self.evaluate(&picks, "final", Budget::Final)?;
                    self.state.round += 1;
                    let rounds = self.cfg.search.rounds;
                    self.state.stage = if self.state.round < rounds { Stage::Train } else { Stage::Report };
                }
                Stage::Baseline => self.baseline()?,
                Stage::Report => {
                    let row = crate::report::write(
                        self.dir,
                        &crate::report::ReportInput {
                            method: self.cfg.strategy.name(),
                            space: self.space.name(),
                            seed: self.cfg.seed,
                            evals: &self.evals,
                            top_k: &self.state.all_top_k,
                            all_compete: self.evaluator.budgets_equal()
                                || self.cfg.strategy != Strategy::NarFormerEvolution,
                            predictor_seconds: self.state.predictor_seconds.iter().sum(),
                            search_seconds: self.state.search_seconds,
                            scored: self.state.scored,
                        },
                    )?;
                    self.say(&format!(
                        "best: {} at {} ({:.2}M params, {:.1}M MACs); {} real evaluations",
                        row.top1.map_or("-".into(), |a| format!("{a:.2}%")),
                        row.best_genotype,
                        row.params_m,
                        row.macs_m,
                        row.archs_trained
                    ));
                    self.state.stage = Stage::Done;
                }
                Stage::Done => return Ok(()),
            }
            self.save()?;
        }
    }

    fn predictor(&self) -> &PredictorSection {
        self.cfg.predictor.as_ref().expect("checked by RunConfig::load")
    }

    fn sample_data(&mut self) -> Result<()> {
        let n = self.predictor().train_archs;
        let mut rng = rng_for(self.cfg.seed, "data", 0, 0);
        let mut seen = HashSet::new();
        let mut picks = Vec::with_capacity(n);
        while picks.len() < n {
            let g = random::propose(self.space, &self.cfg.constraints, &mut rng, &seen)?;
            let key = self.space.key(&g);
            seen.insert(key.clone());
            picks.push(Pick::unscored(key, self.space.format(&g)));
        }
        self.say(&format!("sampled {n} architectures for the predictor's training data"));
        self.state.data = picks;
        self.state.stage = Stage::EvaluateData;
        Ok(())
    }

    /// Evaluates the picks not yet evaluated in this phase and round.
    fn evaluate(&mut self, picks: &[Pick], phase: &str, budget: Budget) -> Result<()> {
        let round = self.state.round;
        let done: HashSet<String> =
            self.evals.iter().filter(|e| e.phase == phase && e.round == round).map(|e| e.arch_key.clone()).collect();
        let pending: Vec<&Pick> = picks.iter().filter(|p| !done.contains(&p.key)).collect();
        if pending.is_empty() {
            return Ok(());
        }
        let jobs: Vec<EvalJob> =
            pending.iter().map(|p| EvalJob { key: p.key.clone(), genotype: p.genotype.clone(), budget }).collect();
        let pb = bar(picks.len() as u64, phase, self.quiet);
        pb.set_position(done.len() as u64);
        let space = self.space;
        let dir = self.dir;
        let evals = &mut self.evals;
        let mut best = evals.iter().filter_map(|e| e.accuracy).fold(f64::NAN, f64::max);
        self.evaluator.evaluate(&jobs, &mut |i, outcome| {
            let job = &jobs[i];
            let cost = space.cost(&space.parse(&job.genotype)?);
            let rec = EvalRecord {
                phase: phase.to_string(),
                round,
                arch_key: job.key.clone(),
                genotype: job.genotype.clone(),
                params: cost.params,
                macs: cost.macs,
                budget: budget.name().to_string(),
                accuracy: outcome.accuracy,
                seconds: outcome.seconds,
                status: if outcome.ok() { "ok" } else { "failed" }.to_string(),
                error: outcome.error.clone(),
                extra: serde_json::to_string(&outcome.extra)?,
            };
            dir.append_evaluation(&rec)?;
            if let Some(a) = rec.accuracy {
                best = best.max(a);
            } else {
                dir.log(&format!("evaluation failed: {} ({})", rec.genotype, rec.error));
            }
            evals.push(rec);
            pb.inc(1);
            pb.set_message(format!("best {best:.2}%"));
            Ok(())
        })?;
        pb.finish_and_clear();
        let failed = self.evals.iter().filter(|e| e.phase == phase && e.round == round && e.accuracy.is_none()).count();
        self.say(&format!(
            "{phase} evaluations of round {round}: {} done, {failed} failed, best so far {best:.2}%",
            picks.len()
        ));
        Ok(())
    }

    fn train(&mut self) -> Result<()> {
        let round = self.state.round;
        let seconds = dispatch(self.cfg.device, TrainTask { wf: self })??;
        if self.state.predictor_seconds.len() <= round {
            self.state.predictor_seconds.resize(round + 1, 0.0);
        }
        self.state.predictor_seconds[round] = seconds;
        self.state.stage = Stage::Search;
        Ok(())
    }

    fn search(&mut self) -> Result<()> {
        dispatch(self.cfg.device, SearchTask { wf: self })??;
        self.state.stage = Stage::EvaluateFinal;
        Ok(())
    }

    fn baseline(&mut self) -> Result<()> {
        let queries = self.cfg.search.queries.expect("checked by RunConfig::load");
        let name = self.cfg.strategy.name();
        while self.evals.len() < queries {
            let step = self.evals.len();
            let mut rng = rng_for(self.cfg.seed, name, 0, step);
            let evaluated = self.evaluated_keys();
            let g = match self.cfg.strategy {
                Strategy::RandomSearch => random::propose(self.space, &self.cfg.constraints, &mut rng, &evaluated)?,
                _ => {
                    let history: Vec<(String, Option<f64>)> =
                        self.evals.iter().map(|e| (e.genotype.clone(), e.accuracy)).collect();
                    regularized::propose(
                        self.space,
                        &self.cfg.search.regularized,
                        &self.cfg.constraints,
                        &mut rng,
                        &history,
                        &evaluated,
                    )?
                }
            };
            let pick = Pick::unscored(self.space.key(&g), self.space.format(&g));
            self.evaluate(std::slice::from_ref(&pick), name, Budget::Final)?;
        }
        self.state.stage = Stage::Report;
        Ok(())
    }
}

struct TrainTask<'w, 'a, S: SearchSpace> {
    wf: &'w mut Workflow<'a, S>,
}

impl<S: SearchSpace> BackendTask for TrainTask<'_, '_, S> {
    type Output = Result<f64>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<f64> {
        let wf = self.wf;
        let p = wf.predictor().clone();
        let round = wf.state.round;
        // the training data: every successful evaluation, then extra CSVs; one row per key
        let mut rows: Vec<(String, String, f64)> = Vec::new();
        let mut seen = HashSet::new();
        for e in &wf.evals {
            if let Some(a) = e.accuracy
                && seen.insert(e.arch_key.clone())
            {
                rows.push((e.arch_key.clone(), e.genotype.clone(), a));
            }
        }
        for path in &p.extra_data {
            let path = wf.state.config_dir.join(path);
            let mut r =
                csv::Reader::from_path(&path).with_context(|| format!("predictor.extra_data: {}", path.display()))?;
            for rec in r.deserialize::<EvalRecord>() {
                let rec = rec.with_context(|| format!("{} is not an evaluations.csv", path.display()))?;
                if let Some(a) = rec.accuracy {
                    wf.space.parse(&rec.genotype).with_context(|| format!("{}: {}", path.display(), rec.genotype))?;
                    if seen.insert(rec.arch_key.clone()) {
                        rows.push((rec.arch_key, rec.genotype, a));
                    }
                }
            }
        }
        anyhow::ensure!(rows.len() >= 4, "only {} successful evaluations to train the predictor on", rows.len());
        // parallel evaluations finish in any order: order the data by key so training is reproducible
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.shuffle(&mut rng_for(wf.cfg.seed, "split", round, 0));
        let n_val =
            if p.val_fraction > 0.0 { ((p.val_fraction * rows.len() as f64).ceil() as usize).max(2) } else { 0 };
        let (val, trn) = order.split_at(n_val);
        let graphs: Vec<_> =
            rows.iter().map(|(_, g, _)| wf.space.parse(g).map(|g| wf.space.to_graph(&g))).collect::<Result<_>>()?;
        let mut set = encode_graphs(&graphs, &p.model)?;
        let trn_graphs: Vec<_> = trn.iter().map(|&i| graphs[i].clone()).collect();
        let twins = append_twins(&mut set, &trn_graphs, &p.model, p.train.augment_permutations);
        let label = |i: &usize| (rows[*i].2 / 100.0) as f32;
        // without a validation share, weights are selected on the training set
        let val_rows: Vec<usize> = if val.is_empty() { trn.to_vec() } else { val.to_vec() };
        let data = TrainData {
            set: &set,
            train_rows: trn.to_vec(),
            train_labels: trn.iter().map(label).collect(),
            twins,
            val_rows: val_rows.clone(),
            val_labels: val_rows.iter().map(label).collect(),
        };
        let out = wf.dir.path(&format!("predictor/round-{round}"));
        wf.say(&format!(
            "round {round}: training the predictor on {} architectures ({} held out)",
            trn.len(),
            val.len()
        ));
        let pb = bar(p.train.epochs as u64, "predictor", wf.quiet);
        let outcome = train::train::<B>(&p.model, 0, &p.train, &data, &out, &device, |row| {
            pb.set_position(row.epoch as u64);
            pb.set_message(format!("val tau {:.3}", row.val_tau.max(row.ema_val_tau)));
        })?;
        pb.finish_and_clear();
        // the round's log is also the run's predictor/train_log.csv
        std::fs::copy(out.join("train_log.csv"), wf.dir.path("predictor/train_log.csv"))?;
        wf.say(&format!(
            "round {round}: predictor trained in {:.1} s, best validation tau {:.3} (epoch {})",
            outcome.state.train_seconds, outcome.state.best_val_tau, outcome.state.best_epoch
        ));
        Ok(outcome.state.train_seconds)
    }
}

struct SearchTask<'w, 'a, S: SearchSpace> {
    wf: &'w mut Workflow<'a, S>,
}

impl<S: SearchSpace> BackendTask for SearchTask<'_, '_, S> {
    type Output = Result<()>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let wf = self.wf;
        let p = wf.predictor().clone();
        let round = wf.state.round;
        let model: Predictor<B::InnerBackend> = p.model.init(0, &device);
        let (model, _) = checkpoint::load_best(model, &wf.dir.path(&format!("predictor/round-{round}")), &device)?;
        let mut fitness = PredictorFitness {
            space: wf.space,
            model: &model,
            model_cfg: &p.model,
            device: &device,
            cache: Default::default(),
            inferred: 0,
        };
        let s = &wf.cfg.search;
        let hall_size = p.train_archs + s.top_k * (s.rounds + 1) + 100;
        let evo = Evolution { space: wf.space, cfg: &s.evolution, constraints: &wf.cfg.constraints, hall_size };
        let started = Instant::now();
        let mut st = match wf.state.evolution.take() {
            Some(st) => {
                wf.dir.truncate_generations(round, st.generation)?;
                st
            }
            None => {
                wf.dir.truncate_generations(round, 0)?;
                // the best measured architectures start the population (search.seed_measured)
                let seeds = wf
                    .measured_best_first()
                    .iter()
                    .take(s.seed_measured)
                    .map(|e| wf.space.parse(&e.genotype))
                    .collect::<Result<Vec<_>>>()?;
                let st = evo.init(seeds, &mut rng_for(wf.cfg.seed, "search", round, 0), &mut fitness)?;
                wf.state.evolution = Some(st.clone());
                wf.state.save(&wf.dir.path("checkpoint.json"))?;
                st
            }
        };
        let scored_before = st.scored;
        let pb = bar(s.evolution.generations as u64, "search", wf.quiet);
        pb.set_position(st.generation as u64);
        while st.generation < s.evolution.generations {
            let mut rng = rng_for(wf.cfg.seed, "search", round, st.generation + 1);
            let stats = evo.step(&mut st, &mut rng, &mut fitness)?;
            wf.dir.append_generation(round, &stats)?;
            pb.set_position(stats.generation as u64);
            pb.set_message(format!("best predicted {:.4}", stats.best_score));
            if stats.generation % s.checkpoint_every == 0 || stats.generation == s.evolution.generations {
                wf.state.evolution = Some(st.clone());
                wf.state.save(&wf.dir.path("checkpoint.json"))?;
            }
        }
        pb.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        wf.state.search_seconds += secs;
        wf.state.scored += st.scored;
        wf.say(&format!(
            "round {round}: search scored {} architectures ({} distinct run through the predictor) in {secs:.1} s: {:.0} archs/s",
            st.scored - scored_before,
            fitness.inferred,
            (st.scored - scored_before) as f64 / secs.max(1e-9)
        ));
        let mut taken = wf.evaluated_keys();
        // search.local_picks: the best-predicted unmeasured neighbours of the best measured architecture
        let mut chosen: Vec<Member> = match wf.measured_best_first().first() {
            Some(best) if s.local_picks > 0 => {
                let local = LocalSearch { space: wf.space, constraints: &wf.cfg.constraints, draws: NEIGHBOUR_DRAWS };
                let mut rng = rng_for(wf.cfg.seed, "local", round, 0);
                local.best_neighbours(
                    &wf.space.parse(&best.genotype)?,
                    &taken,
                    s.local_picks,
                    &mut rng,
                    &mut fitness,
                )?
            }
            _ => Vec::new(),
        };
        taken.extend(chosen.iter().map(|m| m.key.clone()));
        let n_local = chosen.len();
        // the rest: the evolution's best predicted
        chosen.extend(st.hall_of_fame.iter().filter(|m| !taken.contains(&m.key)).take(s.top_k - n_local).cloned());
        if s.local_picks > 0 {
            wf.say(&format!(
                "round {round}: top-{} = {n_local} neighbours of the best measured + {} from the evolution",
                chosen.len(),
                chosen.len() - n_local
            ));
        }
        let picks: Vec<Pick> = chosen
            .into_iter()
            .enumerate()
            .map(|(i, m)| Pick {
                key: m.key,
                genotype: m.genotype,
                score: Some(m.score),
                round,
                source: if i < n_local { "local" } else { "evolution" }.to_string(),
            })
            .collect();
        wf.state.all_top_k.extend(picks.iter().cloned());
        wf.state.top_k = picks;
        wf.state.evolution = None;
        Ok(())
    }
}
