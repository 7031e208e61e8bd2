//! A round's search with the predictor as fitness: the evolution (or NSGA-II
//! for a front) run generation by generation and checkpointed, the local
//! picks around the best measured, the round's top-K chosen.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use super::Workflow;
use crate::progress::bar;
use crate::run::config::Strategy;
use crate::run::fitness::PredictorFitness;
use crate::run::run_dir::RunDir;
use crate::run::selection::{self};
use crate::run::state::{Pick, PickSource, RunState, Stage, rng_for};
use crate::search::evolution::Evolution;
use crate::search::evolution::GenerationStats;
use crate::search::local::LocalSearch;
use crate::search::nsga2::{FrontStats, Nsga2};
use crate::search::{Fitness, Generational};
use crate::space::SearchSpace;

/// Mutations of the best measured architecture drawn to find its neighbours (search.local_picks).
const NEIGHBOUR_DRAWS: usize = 1000;

impl<S: SearchSpace, B: AutodiffBackend> Workflow<'_, S, B> {
    /// Searches with this round's predictor and picks the round's top-K.
    pub(super) fn search(&mut self) -> Result<()> {
        if self.cfg.strategy == Strategy::NarFormerNsga2 {
            return self.search_front();
        }
        // copies of the shared references and the device: the search loop borrows self mutably
        let (cfg, space, device) = (self.cfg, self.space, self.device.clone());
        let p = self.predictor_section();
        let s = &cfg.search;
        let round = self.state.round;
        let model = self.round_predictor()?;
        let mut fitness = PredictorFitness::new(space, &model, &p.model, &device);
        let hall_size = p.train_archs + s.top_k * (s.rounds + 1) + 100;
        let evo = Evolution { space, cfg: &s.evolution, constraints: &cfg.constraints, hall_size };
        // the best measured architectures start the population (search.seed_measured);
        // all measured ones compete: they are the predictor's labels, of one budget
        // (the search's own choices do not read measured latencies: a timing is noise a re-run would
        // not repeat; what it proposes meets the constraint on the latency it sees)
        let seeds = selection::best_first(&self.evals, true)
            .iter()
            .take(s.seed_measured)
            .map(|e| self.space.parse(&e.genotype))
            .collect::<Result<Vec<_>>>()?;
        let st = self
            .generations(&evo, "search", seeds, |state| &mut state.evolution, &mut fitness)
            .map_err(|e| self.search_error(e))?;
        self.latency_error()?;
        self.say(&format!(
            "round {round}: {} distinct genotypes run through the predictor (the rest were repeats)",
            fitness.inferred()
        ));
        let measured = self.evaluated_keys();
        // search.local_picks: the best-predicted unmeasured neighbours of the best `local_from` measured
        let incumbents = selection::best_first(&self.evals, true)
            .iter()
            .take(if s.local_picks > 0 { s.local_from } else { 0 })
            .map(|e| self.space.parse(&e.genotype))
            .collect::<Result<Vec<_>>>()?;
        let local = if incumbents.is_empty() {
            Vec::new()
        } else {
            let local = LocalSearch { space: self.space, constraints: &self.cfg.constraints, draws: NEIGHBOUR_DRAWS };
            let mut rng = rng_for(self.cfg.seed, "local", round, 0);
            local
                .best_neighbours(&incumbents, &measured, s.local_picks, &mut rng, &mut fitness)
                .map_err(|e| self.search_error(e))?
        };
        let n_local = local.len();
        let picks = selection::top_k(local, &st.hall_of_fame, &measured, s.top_k, round);
        if s.local_picks > 0 {
            self.say(&format!(
                "round {round}: top-{} = {n_local} neighbours of the best measured + {} from the evolution",
                picks.len(),
                picks.len() - n_local
            ));
        }
        let picks = self.with_search_latency(picks);
        self.state.all_top_k.extend(picks.iter().cloned());
        self.state.top_k = picks;
        self.state.evolution = None;
        self.state.stage = Stage::EvaluateFinal;
        Ok(())
    }

    /// Runs this round's generational search to its last generation: from
    /// the checkpoint's state in `slot` when the run was interrupted in it,
    /// else from `init` (random generator stream `stream`); each generation's
    /// row appended to `generations.csv`, the state checkpointed every
    /// `search.checkpoint_every` generations and at the end. The round's
    /// architectures scored (from its start, whatever the interruptions) are
    /// added to the run's count and logged. The one loop of both
    /// predictor-guided strategies.
    fn generations<G>(
        &mut self,
        search: &G,
        stream: &str,
        seeds: Vec<S::Genotype>,
        slot: fn(&mut RunState) -> &mut Option<G::State>,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<G::State>
    where
        G: Generational<S>,
        G::Stats: GenerationRow,
    {
        let round = self.state.round;
        let every = self.cfg.search.checkpoint_every;
        let started = Instant::now();
        // architectures scored before this process (0 for a fresh round: its first population counts here)
        let mut scored_before = 0;
        let mut st = match slot(&mut self.state).take() {
            Some(st) => {
                self.dir.truncate_generations(round, G::progress(&st).0)?;
                scored_before = G::progress(&st).1;
                st
            }
            None => {
                self.dir.truncate_generations(round, 0)?;
                let st = search.init(seeds, &mut rng_for(self.cfg.seed, stream, round, 0), fitness)?;
                *slot(&mut self.state) = Some(st.clone());
                self.save()?;
                st
            }
        };
        let total = search.generations();
        let pb = bar(total as u64, "search", self.quiet);
        pb.set_position(G::progress(&st).0 as u64);
        while G::progress(&st).0 < total {
            let generation = G::progress(&st).0 + 1;
            let stats = search.step(&mut st, &mut rng_for(self.cfg.seed, stream, round, generation), fitness)?;
            stats.append(self.dir, round)?;
            pb.set_position(generation as u64);
            pb.set_message(stats.message());
            if generation % every == 0 || generation == total {
                *slot(&mut self.state) = Some(st.clone());
                self.save()?;
            }
        }
        pb.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let scored = G::progress(&st).1;
        self.state.search_seconds += secs;
        self.state.scored += scored;
        let here = scored - scored_before;
        self.say(&format!(
            "round {round}: the search scored {scored} architectures (this process {here} in {secs:.1} s: {:.0} archs/s)",
            here as f64 / secs.max(1e-9)
        ));
        Ok(st)
    }

    /// nar-former-nsga2: NSGA-II with this round's predictor as the accuracy
    /// objective; the round's top-K spread over the predicted front.
    pub(super) fn search_front(&mut self) -> Result<()> {
        let (cfg, space, device) = (self.cfg, self.space, self.device.clone());
        let p = self.predictor_section();
        let s = &cfg.search;
        let round = self.state.round;
        let model = self.round_predictor()?;
        let mut fitness = PredictorFitness::new(space, &model, &p.model, &device);
        let reference = cfg.reference_cost().expect("checked by RunConfig::load");
        let nsga = Nsga2 { space, cfg: &s.nsga2, objectives: &s.objectives, constraints: &cfg.constraints, reference };
        let st = self
            .generations(&nsga, "front", Vec::new(), |state| &mut state.front, &mut fitness)
            .map_err(|e| self.search_error(e))?;
        self.latency_error()?;
        let picks: Vec<Pick> = nsga
            .picks(&st, &self.evaluated_keys(), s.top_k)
            .into_iter()
            .map(|m| Pick {
                key: m.key,
                genotype: m.genotype,
                score: Some(m.score),
                round,
                source: PickSource::Front,
                latency_ms: None,
            })
            .collect();
        self.say(&format!("round {round}: top-{} spread over the predicted front", picks.len()));
        let picks = self.with_search_latency(picks);
        self.state.all_top_k.extend(picks.iter().cloned());
        self.state.top_k = picks;
        self.state.front = None;
        self.state.stage = Stage::EvaluateFinal;
        Ok(())
    }
}

/// A generation's row as the run writes and shows it.
trait GenerationRow {
    /// Appends it to `generations.csv` for `round`.
    fn append(&self, dir: &RunDir, round: usize) -> Result<()>;
    /// The progress bar's message.
    fn message(&self) -> String;
}

impl GenerationRow for GenerationStats {
    fn append(&self, dir: &RunDir, round: usize) -> Result<()> {
        dir.append_generation(round, self)
    }

    fn message(&self) -> String {
        format!("best predicted {:.2}%", self.best_score * 100.0)
    }
}

impl GenerationRow for FrontStats {
    fn append(&self, dir: &RunDir, round: usize) -> Result<()> {
        dir.append_front_generation(round, self)
    }

    fn message(&self) -> String {
        format!("front {}, hypervolume {:.4}", self.front_size, self.hypervolume)
    }
}
