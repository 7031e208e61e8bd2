//! Latency end to end: `latency measure` (shuffled order, every column,
//! resume after a kill, settings of another machine refused) on the three
//! spaces, `latency lut`, a latency predictor with its baselines, and runs
//! that search under a latency constraint and report measured latency.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use common::*;

/// A NAS-Bench-201 space of two ops (64 cells) and a tiny network: fast to measure whole.
fn tiny_space(dir: &Path) -> PathBuf {
    write(dir, "tiny.yaml", "space: nb201\nops: [nor_conv_3x3, skip_connect]\nchannels: 4\ncells_per_stage: 1\n")
}

/// `latency measure` with `extra` arguments (by default 1 warm-up and 2 timed passes).
fn measure(space: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = bin();
    cmd.args(["latency", "measure"]).arg(space).arg("--out").arg(out).arg("--quiet").args(extra);
    for (flag, default) in [("--warmup", "1"), ("--repeats", "2")] {
        if !extra.contains(&flag) {
            cmd.args([flag, default]);
        }
    }
    run_ok(&mut cmd)
}

#[test]
fn measure_writes_every_column_in_a_shuffled_order_and_resumes_after_a_kill() {
    let dir = temp_dir("lat-measure");
    let space = tiny_space(&dir);
    let out = dir.join("lat.csv");
    let printed = measure(&space, &out, &["--all", "--remeasure", "4"]);
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(text.contains("64 networks") && text.contains("repeat noise: 4 networks"), "{text}");
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 64 + 4);
    for col in [
        "genotype",
        "key",
        "pass",
        "order",
        "latency_ms",
        "p25_ms",
        "p75_ms",
        "min_ms",
        "max_ms",
        "warmup",
        "repeats",
        "params",
        "macs",
        "space",
        "device",
        "device_name",
        "backend",
        "threads",
        "batch",
        "resolution",
        "date",
    ] {
        assert!(rows[0].contains_key(col), "column {col} missing");
    }
    let first: Vec<&HashMap<String, String>> = rows.iter().filter(|r| r["pass"] == "1").collect();
    let genotypes: HashSet<&str> = first.iter().map(|r| r["genotype"].as_str()).collect();
    assert_eq!(genotypes.len(), 64, "every cell of the space once");
    for r in &rows {
        let (p25, med, p75): (f64, f64, f64) =
            (r["p25_ms"].parse().unwrap(), r["latency_ms"].parse().unwrap(), r["p75_ms"].parse().unwrap());
        assert!(0.0 < p25 && p25 <= med && med <= p75, "{r:?}");
        assert_eq!((r["device"].as_str(), r["batch"].as_str(), r["resolution"].as_str()), ("cpu", "1", "32"));
    }
    // shuffled: not in the space's enumeration order (which sorts the op indices)
    let mut sorted: Vec<&str> = first.iter().map(|r| r["genotype"].as_str()).collect();
    let measured_order = sorted.clone();
    sorted.sort();
    assert_ne!(measured_order, sorted, "the measuring order is shuffled");
    // the re-measured ones are the first of the order
    let again: Vec<&str> = rows.iter().filter(|r| r["pass"] == "2").map(|r| r["genotype"].as_str()).collect();
    assert_eq!(again, measured_order[..4]);

    // a kill mid-write: the last 10 rows gone and a cut line; resuming measures exactly what is missing
    let all = fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let kept = lines[..lines.len() - 10].join("\n") + "\n" + &lines[lines.len() - 10][..20];
    fs::write(&out, kept).unwrap();
    measure(&space, &out, &["--all", "--remeasure", "4"]);
    let resumed = csv_rows(&out);
    assert_eq!(resumed.len(), rows.len());
    let order = |rows: &[HashMap<String, String>]| {
        rows.iter().map(|r| (r["pass"].clone(), r["genotype"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(order(&resumed), order(&rows), "the same order as the uninterrupted measurement");
    assert_eq!(resumed[..50], rows[..50], "finished rows are kept as they were");

    // other settings into the same file are refused, naming both
    let err = run_err(bin().args(["latency", "measure"]).arg(&space).arg("--out").arg(&out).args([
        "--all",
        "--repeats",
        "5",
        "--quiet",
    ]));
    assert!(
        err.contains("holds other measurements") && err.contains("repeats 2") && err.contains("repeats 5"),
        "{err}"
    );
}

#[test]
fn measure_builds_darts_and_mobilenet_networks_too() {
    let dir = temp_dir("lat-spaces");
    for space in ["darts", "mobilenetv3"] {
        let out = dir.join(format!("{space}.csv"));
        let path = repo().join(format!("search_spaces/{space}.yaml"));
        measure(&path, &out, &["-n", "2", "--remeasure", "1", "--warmup", "0", "--repeats", "1"]);
        let rows = csv_rows(&out);
        assert_eq!(rows.len(), 3, "{space}");
        assert_eq!(rows[0]["space"], space);
        let ms: f64 = rows[0]["latency_ms"].parse().unwrap();
        assert!(ms > 0.0 && ms.is_finite());
        // the cost columns are the cost model's
        let cost = run_ok(bin().args(["space", "cost"]).arg(&path).arg(&rows[0]["genotype"]).arg("--json"));
        let json: serde_json::Value = serde_json::from_slice(&cost.stdout).unwrap();
        assert_eq!(json["macs"].to_string(), rows[0]["macs"], "{space}");
    }
    let err = run_err(
        bin()
            .args(["latency", "measure"])
            .arg(repo().join("search_spaces/darts.yaml"))
            .arg("--out")
            .arg(dir.join("x.csv"))
            .arg("--all"),
    );
    assert!(err.contains("too large to list") && err.contains("--n"), "{err}");
}

#[test]
fn the_nb201_network_built_has_the_parameters_the_cost_model_counts() {
    use burn::backend::{Autodiff, NdArray};
    use nas_search::net::{NetOverrides, NetSpec};
    use nas_search::space::SpaceConfig;
    use rand::SeedableRng;
    let space = SpaceConfig::load(&repo().join("search_spaces/nb201.yaml")).unwrap().build().unwrap();
    for cell in [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    ] {
        let spec = space.network_of(cell, &NetOverrides::default()).unwrap().unwrap();
        assert!(matches!(spec, NetSpec::Nb201(_)));
        let net = nas_search::trainer::Network::<Autodiff<NdArray>>::new(
            &spec,
            &mut rand::rngs::StdRng::seed_from_u64(0),
            &Default::default(),
        );
        assert_eq!(net.trainable_params() as u64, space.cost_of(cell).unwrap().params, "{cell}");
    }
    // the benchmark's largest network
    let big = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    assert_eq!(space.cost_of(big).unwrap().params, 1_531_546);
}

/// A latency CSV of `n` standard NAS-Bench-201 networks and the look-up table, measured here.
fn nb201_measurements(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let space = repo().join("search_spaces/nb201.yaml");
    let (csv, lut) = (dir.join("nb201_lat.csv"), dir.join("nb201_lut.csv"));
    measure(&space, &csv, &["-n", &n.to_string(), "--remeasure", "2", "--warmup", "1", "--repeats", "3"]);
    run_ok(bin().args(["latency", "lut"]).arg(&space).arg("--out").arg(&lut).args([
        "--all",
        "--repeats",
        "3",
        "--quiet",
    ]));
    (csv, lut)
}

/// `predictor train` of a latency config into `out` with `--results`:
/// checks the printed table (of `held_out` networks, MAPE and ACC(10%))
/// and the tabled rows (`models`, each with a MAPE and ACC(10%)); its stdout
/// and the rows.
fn train_latency_predictor(
    cfg: &Path,
    out: &Path,
    results: &Path,
    held_out: usize,
    models: [&str; 3],
) -> (String, Vec<HashMap<String, String>>) {
    let o = run_ok(
        bin().args(["predictor", "train"]).arg(cfg).arg("--out").arg(out).arg("--results").arg(results).arg("--quiet"),
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains(&format!("latency on {held_out} held-out networks"))
            && text.contains("MAPE")
            && text.contains("ACC(10%)")
            && models.iter().all(|m| text.contains(m)),
        "{text}"
    );
    let rows = csv_rows(results);
    assert_eq!(rows.iter().map(|r| r["model"].as_str()).collect::<Vec<_>>(), models);
    for r in &rows {
        let (mape, acc): (f64, f64) = (r["mape"].parse().unwrap(), r["acc10"].parse().unwrap());
        assert!(mape > 0.0 && mape.is_finite() && (0.0..=100.0).contains(&acc), "{r:?}");
    }
    (text, rows)
}

#[test]
fn a_latency_predictor_trains_and_is_tabled_beside_the_macs_fit_and_the_lookup_table() {
    let dir = temp_dir("lat-predictor");
    let (csv, lut) = nb201_measurements(&dir, 60);
    let cfg = write(
        &dir,
        "lat.yaml",
        &format!(
            "data: {{ latency_csv: {}, lut: {} }}
split: {{ train_archs: 30, val_archs: 10 }}
model: {{ kind: mlp, mlp: {{ hidden: [32, 32] }} }}
train: {{ epochs: 30, batch_size: 8, lr: 0.003, seed: 1 }}
",
            csv.display(),
            lut.display()
        ),
    );
    let results = dir.join("latency_predictor.csv");
    let (text, rows) = train_latency_predictor(&cfg, &dir.join("train"), &results, 20, ["lut", "macs-fit", "mlp"]);
    for r in &rows {
        assert_eq!((r["train_archs"].as_str(), r["test_archs"].as_str()), ("30", "20"));
        assert!(r["command"].starts_with("nas-search predictor train"), "{r:?}");
    }
    // the look-up table of the same device ranks the measured networks (their latencies span 10x;
    // its sums' scale drifts with the machine's load while the tests run beside it)
    let lut_tau: f64 = rows[0]["tau"].parse().unwrap();
    assert!(lut_tau > 0.5, "look-up table tau {lut_tau}");
    assert!(dir.join("train/latency_labels.json").is_file());
    // `predictor eval` prints the same table from the training directory
    let again = run_ok(bin().args(["predictor", "eval", "--checkpoint"]).arg(dir.join("train")));
    let again = String::from_utf8_lossy(&again.stdout);
    let mlp_line = |t: &str| t.lines().find(|l| l.starts_with("mlp")).map(str::to_string);
    assert_eq!(mlp_line(&again), mlp_line(&text), "{again}");

    // a run's search sees the trained predictor's latency
    let run_cfg = write(
        &dir,
        "run.yaml",
        &format!(
            "seed: 1
space: {}
strategy: random-search
evaluator: {{ kind: tabular }}
search: {{ queries: 4 }}
constraints: {{ latency_ms: {{ max: 1000 }} }}
latency: {{ predict: predictor, predictor_dir: {}, table: {}, measure: table }}
",
            repo().join("search_spaces/nb201.yaml").display(),
            dir.join("train").display(),
            whole_table(&dir, &nas_search::latency::device::cpu_model()).display()
        ),
    );
    run_ok(bin().arg("run").arg(&run_cfg).arg("--run-dir").arg(dir.join("run")).arg("--quiet"));
    let md = fs::read_to_string(dir.join("run/summary.md")).unwrap();
    assert!(md.contains("the search saw the latency predictor") && md.contains("train"), "{md}");
    // an accuracy predictor is not a latency predictor
    let acc_cfg = write(&dir, "acc.yaml", TINY_CONFIG);
    run_ok(bin().args(["predictor", "train"]).arg(&acc_cfg).arg("--out").arg(dir.join("acc")).arg("--quiet"));
    let wrong = write(
        &dir,
        "wrong.yaml",
        &fs::read_to_string(&run_cfg)
            .unwrap()
            .replace(&dir.join("train").display().to_string(), &dir.join("acc").display().to_string()),
    );
    let err = run_err(bin().arg("run").arg(&wrong).arg("--run-dir").arg(dir.join("wrong")));
    assert!(err.contains("latency.predictor_dir") && err.contains("holds an accuracy predictor"), "{err}");

    // another network of the same space (8 channels, not 16): its table, the predictor that learnt the
    // 16-channel networks, and a predictor trained on 16-channel measurements as 8-channel ones are refused
    let narrow = write(
        &dir,
        "nb201_c8.yaml",
        &fs::read_to_string(repo().join("search_spaces/nb201.yaml")).unwrap().replace("channels: 16", "channels: 8"),
    );
    let narrow_run = write(
        &dir,
        "narrow.yaml",
        &fs::read_to_string(&run_cfg)
            .unwrap()
            .replace(&repo().join("search_spaces/nb201.yaml").display().to_string(), &narrow.display().to_string()),
    );
    let err = run_err(bin().arg("run").arg(&narrow_run).arg("--run-dir").arg(dir.join("narrow")));
    assert!(err.contains("latency.table") && err.contains("measured on another network of the nb201 space"), "{err}");
    assert!(err.contains("in this run's space"), "names both networks: {err}");
    let tableless = write(
        &dir,
        "narrow_device.yaml",
        &fs::read_to_string(&narrow_run).unwrap().replace("measure: table", "measure: device").replace(
            &format!(
                ", table: {}",
                dir.join(format!("{}.csv", nas_search::latency::device::cpu_model().replace(' ', "_"))).display()
            ),
            "",
        ),
    );
    let err = run_err(bin().arg("run").arg(&tableless).arg("--run-dir").arg(dir.join("narrow-device")));
    assert!(err.contains("learnt another network of the nb201 space") && err.contains("params"), "{err}");
    let narrow_train =
        write(
            &dir,
            "narrow_train.yaml",
            &format!("{}data: {{ latency_csv: {}, space: {} }}\n", TINY_CONFIG, csv.display(), narrow.display())
                .replacen("split: { train_archs: 64, val_archs: 32 }", "split: { train_archs: 30, val_archs: 10 }", 1),
        );
    let err =
        run_err(bin().args(["predictor", "train"]).arg(&narrow_train).arg("--out").arg(dir.join("nt")).arg("--quiet"));
    assert!(err.contains("data.latency_csv") && err.contains("measured on another network"), "{err}");

    // a bad CSV is named with its row
    let bad = dir.join("bad.csv");
    let text = fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let col = lines[0].split(',').position(|c| c == "latency_ms").unwrap();
    let mut fields: Vec<String> = lines[3].split(',').map(String::from).collect();
    fields[col] = "-2".into();
    lines[3] = fields.join(",");
    fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let bad_cfg = write(
        &dir,
        "bad.yaml",
        &fs::read_to_string(&cfg).unwrap().replace(&csv.display().to_string(), &bad.display().to_string()),
    );
    let err =
        run_err(bin().args(["predictor", "train"]).arg(&bad_cfg).arg("--out").arg(dir.join("bad")).arg("--quiet"));
    assert!(
        err.contains("bad.csv") && err.contains("row 4") && err.contains("latency_ms must be a positive number"),
        "{err}"
    );
    let no_col = dir.join("nocol.csv");
    fs::write(&no_col, text.replacen("latency_ms", "latency", 1)).unwrap();
    let cfg2 = write(
        &dir,
        "nocol.yaml",
        &fs::read_to_string(&cfg).unwrap().replace(&csv.display().to_string(), &no_col.display().to_string()),
    );
    let err = run_err(bin().args(["predictor", "train"]).arg(&cfg2).arg("--out").arg(dir.join("nocol")).arg("--quiet"));
    assert!(err.contains("nocol.csv") && err.contains("no column `latency_ms`"), "{err}");
}

/// A latency table of every NAS-Bench-201 network, said to be measured on
/// `device_name`: 1 ms + 1 ms per 20M MACs (deterministic, unlike a timing).
fn whole_table(dir: &Path, device_name: &str) -> PathBuf {
    let mut text = String::from(
        "genotype,key,pass,order,latency_ms,p25_ms,p75_ms,min_ms,max_ms,warmup,repeats,params,macs,space,device,device_name,backend,threads,batch,resolution,date\n",
    );
    let space =
        nas_search::space::SpaceConfig::load(&repo().join("search_spaces/nb201.yaml")).unwrap().build().unwrap();
    for (i, cell) in nas_search::space::nb201::Nb201Cell::enumerate().enumerate() {
        let g = cell.to_string();
        // the network a measurement of the space times (the run checks rows against it)
        let (params, macs, _) = nas_search::latency::signature::signature(space.as_ref(), &g).unwrap();
        let ms = 1.0 + macs as f64 / 2e7;
        let key = space.key_of(&g).unwrap();
        text += &format!(
            "{g},{key},1,{i},{ms},{ms},{ms},{ms},{ms},1,1,{params},{macs},nb201,cpu,{device_name},ndarray,1,1,32,2026-01-01T00:00:00Z\n"
        );
    }
    write(dir, &format!("{}.csv", device_name.replace(' ', "_")), &text)
}

/// An NSGA-II run over accuracy x latency on the benchmark table: the
/// search sees `latency` (a `latency:` section's keys).
fn latency_run(dir: &Path, latency: &str, max_ms: f64, strategy: &str) -> PathBuf {
    let predictor = if strategy == "nar-former-nsga2" {
        "predictor:
  train_archs: 12
  val_fraction: 0
  model:
    kind: nar-former
    tokenizer: { lx: 4, lp: 4, lr: 4 }
    transformer: { depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }
  train: { epochs: 4, batch_size: 8, lr: 0.002 }
"
    } else {
        ""
    };
    write(
        dir,
        &format!("{strategy}.yaml"),
        &format!(
            "name: lat
seed: 2
space: {space}
strategy: {strategy}
evaluator: {{ kind: tabular }}
{predictor}search:
  objectives: [accuracy, latency]
  nsga2: {{ population: 12, generations: 3 }}
  top_k: 4
  queries: 10
constraints:
  latency_ms: {{ max: {max_ms} }}
latency: {latency}
",
            space = repo().join("search_spaces/nb201.yaml").display(),
        ),
    )
}

#[test]
fn a_run_searches_under_a_latency_constraint_and_reports_measured_latency() {
    let dir = temp_dir("lat-run");
    let table = whole_table(&dir, &nas_search::latency::device::cpu_model());
    // 2.5 ms: networks under 30M MACs
    let max_ms = 2.5;
    // the look-up table of this machine's units, each set to 0.1 ms (a deterministic sum)
    let lut = dir.join("lut.csv");
    run_ok(
        bin()
            .args(["latency", "lut"])
            .arg(repo().join("search_spaces/nb201.yaml"))
            .arg("--out")
            .arg(&lut)
            .args(["--all", "--quiet"]),
    );
    let mut r = csv::Reader::from_path(&lut).unwrap();
    let headers = r.headers().unwrap().clone();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&headers).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        w.write_record(headers.iter().zip(rec.iter()).map(|(h, v)| if h == "latency_ms" { "0.1" } else { v })).unwrap();
    }
    fs::write(&lut, w.into_inner().unwrap()).unwrap();
    for strategy in ["nar-former-nsga2", "nsga2"] {
        // the predictor-guided search sees the look-up table, the baseline the measurement table
        let sees = if strategy == "nsga2" {
            "predict: table".to_string()
        } else {
            format!("predict: lut, lut: {}", lut.display())
        };
        let latency = format!("{{ {sees}, table: {}, measure: table }}", table.display());
        let cfg = latency_run(&dir, &latency, max_ms, strategy);
        let run = dir.join(format!("run-{strategy}"));
        run_ok(bin().arg("run").arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
        let evals = csv_rows(&run.join("evaluations.csv"));
        let ms = |e: &HashMap<String, String>| e["latency_ms"].parse::<f64>().unwrap();
        let acc = |e: &HashMap<String, String>| e["accuracy"].parse::<f64>().unwrap();
        assert!(evals.iter().all(|e| ms(e) > 0.0), "every one measured");
        if strategy == "nsga2" {
            // the search saw the measured table itself: it proposed only networks within the bound
            assert!(evals.iter().all(|e| ms(e) <= max_ms), "{strategy}");
        } else {
            // the look-up table's sums are not the measured latencies: architectures it put under
            // the bound measure above it, the most accurate evaluated one among them
            let most_accurate = evals.iter().max_by(|a, b| acc(a).total_cmp(&acc(b))).unwrap();
            assert!(ms(most_accurate) > max_ms, "{strategy}: the test needs an evaluation beyond the bound");
        }
        let summary = csv_rows(&run.join("summary.csv"));
        let best_ms: f64 = summary[0]["latency_ms"].parse().unwrap_or_else(|_| panic!("{strategy}: {:?}", summary[0]));
        assert!(best_ms <= max_ms, "{strategy}: the best's measured latency {best_ms} meets the bound {max_ms}");
        // the best is the most accurate of those that meet the bound, as measured (the table's
        // budgets are one evaluation: every evaluation competes)
        let best_acc = evals.iter().filter(|e| ms(e) <= max_ms).map(acc).fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(summary[0]["best_signal"].parse::<f64>().unwrap(), best_acc, "{strategy}");
        let md = fs::read_to_string(run.join("summary.md")).unwrap();
        let saw = if strategy == "nsga2" { "the measurement table" } else { "the per-unit look-up table" };
        assert!(md.contains(&format!("Latency: the search saw {saw}")) && md.contains("met it as measured"), "{md}");
        let front = csv_rows(&run.join("front.csv"));
        assert_eq!(front[0]["cost"], "latency");
        let pareto = csv_rows(&run.join("pareto.csv"));
        assert!(pareto.iter().all(|p| !p["latency_ms"].is_empty()));
        let svg = fs::read_to_string(run.join("plots/accuracy_vs_cost.svg")).unwrap();
        assert!(svg.contains("Accuracy against latency"), "the plot has a latency panel");
    }
}

#[test]
fn a_run_times_evaluated_networks_here_and_names_a_search_latency_of_another_device() {
    let dir = temp_dir("lat-device");
    let table = whole_table(&dir, "Another CPU 9000");
    let cfg = write(
        &dir,
        "run.yaml",
        &format!(
            "seed: 1
space: {}
strategy: random-search
evaluator: {{ kind: tabular }}
search: {{ queries: 3 }}
constraints: {{ latency_ms: {{ max: 9 }} }}
latency: {{ predict: table, table: {}, measure: device, repeats: 2, warmup: 0 }}
",
            repo().join("search_spaces/nb201.yaml").display(),
            table.display()
        ),
    );
    // the environment asks matrix products for 3 threads: the run times on the 1 its config says
    let mut cmd = bin();
    cmd.arg("run").arg(&cfg).arg("--run-dir").arg(dir.join("run")).arg("--quiet").env("MATMUL_NUM_THREADS", "3");
    let out = run_ok(&mut cmd);
    let log = fs::read_to_string(dir.join("run/run.log")).unwrap();
    assert!(log.contains("timing on 1 thread(s): MATMUL_NUM_THREADS set to 1 (it was 3)"), "{log}");
    // timed here: positive, and not the table's values
    for e in csv_rows(&dir.join("run/evaluations.csv")) {
        let measured: f64 = e["latency_ms"].parse().unwrap();
        let tabled = 1.0 + e["macs"].parse::<f64>().unwrap() / 2e7;
        assert!(measured > 0.0 && measured != tabled, "{e:?}");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("Another CPU 9000") && err.contains("this run is on cpu ("),
        "{err}"
    );
    let log = fs::read_to_string(dir.join("run/run.log")).unwrap();
    assert!(log.contains("Another CPU 9000"), "run.log keeps the warning");

    // killed after its one evaluation was recorded and before its latency was timed: resume
    // (which has nothing left to evaluate) times it before it reports
    let killed = dir.join("killed");
    let out = bin()
        .arg("run")
        .arg(&cfg)
        .arg("--run-dir")
        .arg(&killed)
        .args(["--quiet", "--set", "search.queries=1"])
        .env("NAS_SEARCH_FAILPOINT", "latency-before-timing")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let before = csv_rows(&killed.join("evaluations.csv"));
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["latency_ms"], "", "recorded, not timed yet");
    // a table changed under the run is refused on resume, naming it; restored, the run goes on
    let original = fs::read_to_string(&table).unwrap();
    fs::write(&table, original.replacen("2026-01-01", "2026-01-02", 1)).unwrap();
    let err = run_err(bin().arg("resume").arg(&killed).arg("--quiet"));
    assert!(err.contains("changed since this run started") && err.contains("Another_CPU_9000.csv"), "{err}");
    fs::write(&table, original).unwrap();
    run_ok(bin().arg("resume").arg(&killed).arg("--quiet"));
    let after = csv_rows(&killed.join("evaluations.csv"));
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["genotype"], before[0]["genotype"]);
    assert!(after[0]["latency_ms"].parse::<f64>().is_ok_and(|v| v > 0.0), "{after:?}");

    // a latency constraint without a latency section is refused by name
    let bare = write(
        &dir,
        "bare.yaml",
        &fs::read_to_string(&cfg).unwrap().lines().filter(|l| !l.starts_with("latency")).collect::<Vec<_>>().join("\n"),
    );
    let err = run_err(bin().arg("run").arg(&bare).arg("--run-dir").arg(dir.join("bare")));
    assert!(err.contains("constraints.latency_ms") && err.contains("`latency:` section"), "{err}");
}

#[test]
fn a_latency_source_that_misses_architectures_is_refused_before_the_run_starts() {
    let dir = temp_dir("lat-gaps");
    let lut = dir.join("lut.csv");
    run_ok(
        bin()
            .args(["latency", "lut"])
            .arg(repo().join("search_spaces/nb201.yaml"))
            .arg("--out")
            .arg(&lut)
            .args(["--all", "--quiet"]),
    );
    // the look-up table without its 3x3-convolution unit of the first stage
    let text = fs::read_to_string(&lut).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("relu,conv3x3/1 16>16,bn @16x32")).collect();
    assert_eq!(kept.len() + 1, text.lines().count());
    fs::write(&lut, kept.join("\n") + "\n").unwrap();
    let cfg = write(
        &dir,
        "run.yaml",
        &format!(
            "seed: 1
space: {}
strategy: random-search
evaluator: {{ kind: tabular }}
search: {{ queries: 2 }}
constraints: {{ latency_ms: {{ max: 5 }} }}
latency: {{ predict: lut, lut: {}, measure: device }}
",
            repo().join("search_spaces/nb201.yaml").display(),
            lut.display()
        ),
    );
    let run = dir.join("run");
    let err = run_err(bin().arg("run").arg(&cfg).arg("--run-dir").arg(&run));
    assert!(
        err.contains("latency.lut")
            && err.contains("lacks 1 of the 15 units")
            && err.contains("`relu,conv3x3/1 16>16,bn @16x32`")
            && err.contains("--all"),
        "{err}"
    );
    assert!(!run.join("evaluations.csv").exists(), "refused before evaluating anything");
}

/// A MobileNetV3 space narrowed to 2 kernels, 2 expand ratios, 2 depths and
/// 2 resolutions (its `--all` look-up table: a few hundred units, seconds).
fn small_mobilenet(dir: &Path, resolutions: &str) -> PathBuf {
    write(
        dir,
        &format!("mbv3-{}.yaml", resolutions.replace([',', ' ', '[', ']'], "")),
        &format!(
            "space: mobilenetv3\nkernel_sizes: [3, 5]\nexpand_ratios: [3, 6]\ndepths: [2, 3]\nresolutions: {resolutions}\n"
        ),
    )
}

/// `latency lut` of `space` into `out` at 1 warm-up and 1 timed pass per unit; its stderr.
fn lut(space: &Path, out: &Path, which: &[&str]) -> String {
    let o = run_ok(
        bin()
            .args(["latency", "lut"])
            .arg(space)
            .arg("--out")
            .arg(out)
            .args(["--warmup", "1", "--repeats", "1"])
            .args(which),
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A predictor-guided MobileNetV3 run under a latency bound: the command
/// evaluator's pseudo-accuracies (each evaluated key appended to `log`),
/// `latency` its `latency:` section.
fn mobilenet_latency_run(dir: &Path, space: &Path, latency: &str, max_ms: f64, log: &Path) -> PathBuf {
    write(
        dir,
        "mbv3-run.yaml",
        &format!(
            "seed: 3
space: {space}
strategy: nar-former-evolution
evaluator:
  kind: command
  command: python3 {script} --json {{json}} --log {log}
  retries: 0
predictor:
  train_archs: 8
  val_fraction: 0
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 4, batch_size: 8, lr: 0.002 }}
search:
  evolution: {{ population: 16, generations: 4 }}
  top_k: 3
  rounds: 1
constraints:
  latency_ms: {{ max: {max_ms} }}
latency: {latency}
",
            space = space.display(),
            script = repo().join("scripts/example_evaluator.py").display(),
            log = log.display(),
        ),
    )
}

#[test]
fn a_complete_lookup_table_covers_every_mobilenet_run_and_an_incomplete_one_is_refused_before_any_evaluation() {
    let dir = temp_dir("lat-mbv3-lut");
    let space = small_mobilenet(&dir, "[128, 160]");
    let table = dir.join("lut.csv");
    // the units of two random networks: not the space's
    lut(&space, &table, &["--samples", "2", "--quiet"]);
    let log = dir.join("evaluated.txt");
    let latency = format!("{{ predict: lut, lut: {}, measure: device, warmup: 0, repeats: 1 }}", table.display());
    let cfg = mobilenet_latency_run(&dir, &space, &latency, 200.0, &log);
    let err = run_err(bin().arg("run").arg(&cfg).arg("--run-dir").arg(dir.join("refused")));
    assert!(
        err.contains("latency.lut") && err.contains("lacks") && err.contains("--all") && err.contains("lut.csv"),
        "{err}"
    );
    assert!(!log.exists() && !dir.join("refused/evaluations.csv").exists(), "refused before any evaluation");
    // --all times only what the table lacks, after saying how many and how long
    let said = lut(&space, &table, &["--all"]);
    assert!(said.contains("units the space can produce") && said.contains("to time: about"), "{said}");
    let units = csv_rows(&table).len();
    // every unit of 2,000 random networks of the space is in the table (what the start-up check proves)
    let any = nas_search::space::SpaceConfig::load(&space).unwrap().build().unwrap();
    let (missing, total) = nas_search::latency::lut::Lut::load(&table).unwrap().missing(any.as_ref()).unwrap();
    assert_eq!((missing.len(), total), (0, units));
    let have: HashSet<String> = csv_rows(&table).into_iter().map(|r| r["unit"].clone()).collect();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    for _ in 0..2000 {
        let g = any.sample_text(&mut rng);
        let spec = nas_search::latency::signature::network(any.as_ref(), &g).unwrap();
        for u in nas_search::latency::units::units(&spec) {
            assert!(have.contains(&u.key()), "{} of {g} is not in the --all table", u.key());
        }
    }
    // runs of several seeds never stop for a missing unit
    for seed in [1, 2] {
        let run = dir.join(format!("run-{seed}"));
        run_ok(bin().arg("run").arg(&cfg).arg("--run-dir").arg(&run).args(["--quiet", "--seed", &seed.to_string()]));
        let topk = csv_rows(&run.join("topk.csv"));
        assert_eq!(topk.len(), 3);
        for r in &topk {
            let predicted: f64 = r["predicted_latency_ms"].parse().unwrap_or_else(|_| panic!("{r:?}"));
            let measured: f64 = r["latency_ms"].parse().unwrap_or_else(|_| panic!("{r:?}"));
            assert!(predicted > 0.0 && measured > 0.0, "{r:?}");
        }
        // `best` shows the best's measured latency against the bound
        let out = run_ok(bin().arg("best").arg(&run));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ms measured (latency_ms <= 200: met)"), "{err}");
        let json = run_ok(bin().arg("best").arg(&run).args(["--format", "json"]));
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert!(v["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0 && ms <= 200.0), "{v}");
        assert_eq!(v["latency_bound"]["max"], 200.0);
    }
}

#[test]
fn a_run_resumes_after_its_lookup_table_gained_rows_and_refuses_a_changed_row_by_name() {
    let dir = temp_dir("lat-grown");
    let space = small_mobilenet(&dir, "[128]");
    let table = dir.join("lut.csv");
    lut(&space, &table, &["--all", "--quiet"]);
    let log = dir.join("evaluated.txt");
    let latency = format!("{{ predict: lut, lut: {}, measure: device, warmup: 0, repeats: 1 }}", table.display());
    let cfg = mobilenet_latency_run(&dir, &space, &latency, 200.0, &log);
    let run = dir.join("run");
    // killed after the predictor's 8 evaluations were recorded, before their latency was timed
    let out = bin()
        .arg("run")
        .arg(&cfg)
        .arg("--run-dir")
        .arg(&run)
        .arg("--quiet")
        .env("NAS_SEARCH_FAILPOINT", "latency-before-timing")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(csv_rows(&run.join("evaluations.csv")).len(), 8);
    let original = fs::read_to_string(&table).unwrap();
    // a changed row is refused, naming its unit
    let first_unit = csv_rows(&table)[0]["unit"].clone();
    let mut r = csv::Reader::from_reader(original.as_bytes());
    let headers = r.headers().unwrap().clone();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&headers).unwrap();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.unwrap();
        let changed =
            |(h, v): (&str, &str)| if i == 0 && h == "latency_ms" { "123.0".to_string() } else { v.to_string() };
        w.write_record(headers.iter().zip(rec.iter()).map(changed)).unwrap();
    }
    fs::write(&table, w.into_inner().unwrap()).unwrap();
    let err = run_err(bin().arg("resume").arg(&run).arg("--quiet"));
    assert!(err.contains(&format!("the row of `{first_unit}` changed since this run started")), "{err}");
    // the table grown by another resolution's units (rows only added) is accepted
    fs::write(&table, &original).unwrap();
    lut(&small_mobilenet(&dir, "[160]"), &table, &["--all", "--quiet"]);
    let grown = csv_rows(&table).len();
    assert!(grown > original.lines().count() - 1);
    run_ok(bin().arg("resume").arg(&run).arg("--quiet"));
    let run_log = fs::read_to_string(run.join("run.log")).unwrap();
    assert!(run_log.contains("gained") && run_log.contains("rows only added: accepted"), "{run_log}");
    // nothing evaluated twice: 8 for the predictor, then the top-3
    let evaluated = fs::read_to_string(&log).unwrap();
    let keys: Vec<&str> = evaluated.lines().collect();
    let distinct: HashSet<&str> = keys.iter().copied().collect();
    assert_eq!((keys.len(), distinct.len()), (11, 11), "{evaluated}");
    assert!(run.join("summary.csv").is_file());
}

#[test]
fn a_mobilenet_latency_predictor_is_trained_reported_asked_and_used_by_a_run() {
    let dir = temp_dir("lat-mbv3-predictor");
    let space = small_mobilenet(&dir, "[128, 160]");
    let csv = dir.join("mbv3.csv");
    measure(&space, &csv, &["-n", "40", "--remeasure", "0", "--warmup", "0", "--repeats", "1"]);
    let table = dir.join("lut.csv");
    lut(&space, &table, &["--all", "--quiet"]);
    let cfg = write(
        &dir,
        "lat.yaml",
        &format!(
            "data: {{ latency_csv: {}, lut: {}, space: {} }}
split: {{ train_archs: 20, val_archs: 5 }}
model:
  kind: nar-former
  tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
  transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
train: {{ epochs: 10, batch_size: 8, lr: 0.002, seed: 1 }}
",
            csv.display(),
            table.display(),
            space.display()
        ),
    );
    let results = dir.join("latency_predictor.csv");
    let trained = dir.join("train");
    train_latency_predictor(&cfg, &trained, &results, 15, ["lut", "macs-fit", "nar-former"]);
    // asked for given networks: the predictor's milliseconds, and the look-up table's
    let g = csv_rows(&csv)[30]["genotype"].clone();
    for source in [["--predictor", trained.to_str().unwrap()], ["--lut", table.to_str().unwrap()]] {
        let out = run_ok(bin().args(["latency", "predict"]).arg(&space).args(source).args(["--genotype", &g]));
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        let ms: f64 = line.split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(ms > 0.0 && line.trim_end().ends_with(&g), "{line}");
    }
    // a run's search sees it
    let log = dir.join("evaluated.txt");
    let latency = format!(
        "{{ predict: predictor, predictor_dir: {}, measure: device, warmup: 0, repeats: 1 }}",
        trained.display()
    );
    let run_cfg = mobilenet_latency_run(&dir, &space, &latency, 200.0, &log);
    run_ok(bin().arg("run").arg(&run_cfg).arg("--run-dir").arg(dir.join("run")).arg("--quiet"));
    let md = fs::read_to_string(dir.join("run/summary.md")).unwrap();
    assert!(md.contains("the search saw the latency predictor"), "{md}");
    // ... and a run of another space refuses it by name
    let nb201 = write(
        &dir,
        "nb201.yaml",
        &format!(
            "seed: 1
space: {}
strategy: random-search
evaluator: {{ kind: tabular }}
search: {{ queries: 2 }}
constraints: {{ latency_ms: {{ max: 9 }} }}
latency: {{ predict: predictor, predictor_dir: {}, measure: device }}
",
            repo().join("search_spaces/nb201.yaml").display(),
            trained.display()
        ),
    );
    let err = run_err(bin().arg("run").arg(&nb201).arg("--run-dir").arg(dir.join("nb201")));
    assert!(err.contains("learnt the mobilenetv3 space") && err.contains("nb201"), "{err}");
}

#[test]
fn measure_times_given_architectures_and_every_darts_unit_runs() {
    let dir = temp_dir("lat-given");
    let space = small_mobilenet(&dir, "[128, 160]");
    let g = r#"{"ks": [5,5,5,5,3,3,3,3,5,5,5,5,3,3,3,3,5,5,5,5], "e": [6,6,6,6,3,3,3,3,6,6,6,6,3,3,3,3,6,6,6,6], "d": [2,3,2,3,2], "r": [160]}"#;
    let any = nas_search::space::SpaceConfig::load(&space).unwrap().build().unwrap();
    let canonical = any.check_text(g).unwrap();
    // printed only
    let out =
        run_ok(bin().args(["latency", "measure"]).arg(&space).args(["--genotype", g, "--repeats", "2", "--quiet"]));
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let ms: f64 = line.split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
    assert!(ms > 0.0 && line.contains("quartiles") && line.contains("at 160x160"), "{line}");
    // from a file, into a CSV: one row per given network, in the given order
    let list = write(&dir, "list.txt", &format!("# two networks\n{g}\n\n{}\n", g.replace("[160]", "[128]")));
    let csv = dir.join("given.csv");
    run_ok(
        bin().args(["latency", "measure"]).arg(&space).arg("--file").arg(&list).arg("--out").arg(&csv).arg("--quiet"),
    );
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["resolution"], "160");
    assert_eq!(rows[1]["resolution"], "128");
    assert_eq!(rows[0]["genotype"], canonical);
    assert!(line.trim_end().ends_with(&canonical), "{line}");
    // -n 0 is refused (it panicked on an empty plan)
    let err =
        run_err(bin().args(["latency", "measure"]).arg(&space).args(["-n", "0", "--out"]).arg(dir.join("none.csv")));
    assert!(err.contains("-n 0: measure at least 1 network"), "{err}");
    // a genotype outside the space is named
    let err =
        run_err(bin().args(["latency", "measure"]).arg(&space).args(["--genotype", &g.replace("[160]", "[224]")]));
    assert!(err.contains("is not an architecture of the mobilenetv3 space") && err.contains("224"), "{err}");
    // every unit the DARTS space can produce builds and runs (its factorized reduce too)
    let darts = dir.join("darts_lut.csv");
    lut(&repo().join("search_spaces/darts.yaml"), &darts, &["--all", "--quiet"]);
    let units = csv_rows(&darts);
    assert!(units.len() > 40 && units.iter().any(|u| u["unit"].starts_with("bn @")), "{}", units.len());
}
