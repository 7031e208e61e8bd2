//! Pareto geometry shared by the multi-objective search and its report:
//! dominance, fast non-dominated sorting and crowding distance (Deb et al.,
//! 2002), the 2-D hypervolume, and spreading K picks over a front.
//!
//! Every objective is minimised here; callers negate what they maximise.

/// Whether `a` dominates `b`: no worse in every objective, better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// The fronts of `points`: front 0 is the non-dominated set, front 1 is
/// non-dominated once front 0 is removed, and so on. Indices within a front
/// are ascending. Identical points share a front.
pub fn non_dominated_sort(points: &[Vec<f64>]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated_by = vec![0usize; n]; // how many points dominate i
    let mut dominating: Vec<Vec<usize>> = vec![Vec::new(); n]; // whom i dominates
    for i in 0..n {
        for j in i + 1..n {
            if dominates(&points[i], &points[j]) {
                dominating[i].push(j);
                dominated_by[j] += 1;
            } else if dominates(&points[j], &points[i]) {
                dominating[j].push(i);
                dominated_by[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominating[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        fronts.push(std::mem::replace(&mut current, next));
    }
    fronts
}

/// The first front of 2-D points (both minimised), ascending indices:
/// [`non_dominated_sort`]'s front 0, in O(n log n) rather than O(n^2) (a
/// run's report and pictures take it over every evaluation, 10^5 of them
/// in a run of cheap ones). NaN coordinates are not expected.
pub fn first_front_2d(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    // by the first coordinate, then the second
    order.sort_by(|&a, &b| points[a].0.total_cmp(&points[b].0).then(points[a].1.total_cmp(&points[b].1)));
    let mut front = Vec::new();
    // the least second coordinate of the points with a smaller first one
    let mut best_before = f64::INFINITY;
    let mut i = 0;
    while i < order.len() {
        let x = points[order[i]].0;
        let group_end = order[i..].iter().position(|&k| points[k].0 != x).map_or(order.len(), |n| i + n);
        // within a group of one first coordinate, the least second one (ties: all of them)
        let least = points[order[i]].1;
        if least < best_before || (best_before == f64::INFINITY && least == f64::INFINITY && front.is_empty()) {
            front.extend(order[i..group_end].iter().copied().filter(|&k| points[k].1 == least));
        }
        best_before = best_before.min(least);
        i = group_end;
    }
    front.sort_unstable();
    front
}

/// Crowding distance of each member of `front` (in its order): per
/// objective, the boundary members get infinity and the others the gap
/// between their neighbours, normalised by the objective's range; an
/// objective constant over the front adds nothing.
#[allow(clippy::needless_range_loop)] // m indexes an objective of every point
pub fn crowding_distance(points: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let n = front.len();
    let mut distance = vec![0.0; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let objectives = points[front[0]].len();
    for m in 0..objectives {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| points[front[a]][m].total_cmp(&points[front[b]][m]).then(front[a].cmp(&front[b])));
        let (lo, hi) = (points[front[order[0]]][m], points[front[order[n - 1]]][m]);
        if hi - lo <= 0.0 {
            continue;
        }
        distance[order[0]] = f64::INFINITY;
        distance[order[n - 1]] = f64::INFINITY;
        for w in 1..n - 1 {
            let gap = points[front[order[w + 1]]][m] - points[front[order[w - 1]]][m];
            distance[order[w]] += gap / (hi - lo);
        }
    }
    distance
}

/// The area dominated by `points` (both coordinates minimised) and bounded
/// by `reference`; points not better than the reference in both add nothing.
pub fn hypervolume_2d(points: &[(f64, f64)], reference: (f64, f64)) -> f64 {
    let mut inside: Vec<(f64, f64)> =
        points.iter().copied().filter(|&(x, y)| x < reference.0 && y < reference.1).collect();
    inside.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut area = 0.0;
    let mut ceiling = reference.1; // the lowest y seen so far
    for (i, &(x, y)) in inside.iter().enumerate() {
        if y < ceiling {
            ceiling = y;
        }
        let next_x = inside.get(i + 1).map_or(reference.0, |p| p.0);
        area += (next_x - x) * (reference.1 - ceiling);
    }
    area
}

/// Up to `k` positions in a front of `n` members (sorted by the caller's
/// cost) at equal steps from its first to its last, so the picks span the whole
/// front rather than crowding at one end.
pub fn spread(n: usize, k: usize) -> Vec<usize> {
    if k == 0 || n == 0 {
        return Vec::new();
    }
    if k >= n {
        return (0..n).collect();
    }
    if k == 1 {
        return vec![0];
    }
    let mut picks: Vec<usize> = (0..k).map(|i| ((i * (n - 1)) as f64 / (k - 1) as f64).round() as usize).collect();
    picks.dedup();
    picks
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn pts(v: &[(f64, f64)]) -> Vec<Vec<f64>> {
        v.iter().map(|&(a, b)| vec![a, b]).collect()
    }

    #[test]
    fn fronts_of_a_hand_made_set() {
        // 0,1,2 trade off; 3 is dominated by 1; 4 duplicates 1; 5 by everything
        let p = pts(&[(1.0, 5.0), (2.0, 3.0), (4.0, 1.0), (3.0, 4.0), (2.0, 3.0), (5.0, 6.0)]);
        assert_eq!(non_dominated_sort(&p), vec![vec![0, 1, 2, 4], vec![3], vec![5]]);
        // one objective constant: the other decides, ties share a front
        let p = pts(&[(1.0, 2.0), (1.0, 1.0), (1.0, 1.0), (1.0, 3.0)]);
        assert_eq!(non_dominated_sort(&p), vec![vec![1, 2], vec![0], vec![3]]);
        assert!(non_dominated_sort(&[]).is_empty());
    }

    #[test]
    fn no_front_holds_a_point_its_own_front_dominates() {
        let mut rng = StdRng::seed_from_u64(7);
        let p: Vec<Vec<f64>> =
            (0..200).map(|_| vec![rng.random_range(0..20) as f64, rng.random_range(0..20) as f64]).collect();
        let fronts = non_dominated_sort(&p);
        assert_eq!(fronts.iter().map(Vec::len).sum::<usize>(), 200);
        for (f, front) in fronts.iter().enumerate() {
            for &i in front {
                assert!(front.iter().all(|&j| !dominates(&p[j], &p[i])), "front {f} holds a dominated point");
                if f > 0 {
                    assert!(fronts[f - 1].iter().any(|&j| dominates(&p[j], &p[i])), "{i} in front {f} too late");
                }
            }
        }
    }

    #[test]
    fn the_first_front_in_2d_is_the_sorts_front_zero() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for n in [0, 1, 2, 5, 40, 300] {
            for _ in 0..20 {
                // few distinct values: ties in either coordinate and repeated points; some infinite costs
                let v: Vec<(f64, f64)> = (0..n)
                    .map(|_| {
                        let y = if rng.random_bool(0.1) { f64::INFINITY } else { rng.random_range(0..8) as f64 };
                        (rng.random_range(0..8) as f64, y)
                    })
                    .collect();
                let slow = non_dominated_sort(&pts(&v)).into_iter().next().unwrap_or_default();
                assert_eq!(first_front_2d(&v), slow, "{v:?}");
            }
        }
    }

    #[test]
    fn crowding_distance_by_hand() {
        // a front of 4 on a line: x 0,1,3,4 (range 4), y 4,3,1,0 (range 4)
        let p = pts(&[(0.0, 4.0), (1.0, 3.0), (3.0, 1.0), (4.0, 0.0)]);
        let d = crowding_distance(&p, &[0, 1, 2, 3]);
        assert_eq!(d[0], f64::INFINITY);
        assert_eq!(d[3], f64::INFINITY);
        // member 1: x gap (3 - 0) / 4, y gap (4 - 1) / 4
        assert!((d[1] - 1.5).abs() < 1e-12 && (d[2] - 1.5).abs() < 1e-12, "{d:?}");
        // a constant objective adds nothing (no division by zero)
        let p = pts(&[(0.0, 1.0), (1.0, 1.0), (3.0, 1.0)]);
        let d = crowding_distance(&p, &[0, 1, 2]);
        assert!((d[1] - 1.0).abs() < 1e-12 && d[0].is_infinite(), "{d:?}");
        // duplicates: finite, not NaN
        let p = pts(&[(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]);
        assert!(crowding_distance(&p, &[0, 1, 2]).iter().all(|d| !d.is_nan()));
    }

    /// The dominated area counted on a fine grid.
    fn brute_force(points: &[(f64, f64)], reference: (f64, f64), cells: usize) -> f64 {
        let (dx, dy) = (reference.0 / cells as f64, reference.1 / cells as f64);
        let mut area = 0.0;
        for i in 0..cells {
            for j in 0..cells {
                let (x, y) = ((i as f64 + 0.5) * dx, (j as f64 + 0.5) * dy);
                if points.iter().any(|&(px, py)| px <= x && py <= y) {
                    area += dx * dy;
                }
            }
        }
        area
    }

    #[test]
    fn hypervolume_matches_a_brute_force_count() {
        assert_eq!(hypervolume_2d(&[(1.0, 1.0)], (3.0, 2.0)), 2.0);
        // [1,3)x[2,4) (area 4) and [2,3)x[1,4) (area 3) overlap in [2,3)x[2,4) (area 2): 5
        assert_eq!(hypervolume_2d(&[(1.0, 2.0), (2.0, 1.0)], (3.0, 4.0)), 5.0);
        assert_eq!(hypervolume_2d(&[(5.0, 0.0)], (3.0, 4.0)), 0.0);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            // points on a 1/40 grid, so the midpoint count is exact
            let p: Vec<(f64, f64)> = (0..rng.random_range(1..12))
                .map(|_| (rng.random_range(0..48) as f64 / 40.0, rng.random_range(0..48) as f64 / 40.0))
                .collect();
            let exact = hypervolume_2d(&p, (1.0, 1.0));
            let counted = brute_force(&p, (1.0, 1.0), 400);
            assert!((exact - counted).abs() < 1e-9, "{p:?}: {exact} vs {counted}");
        }
    }

    #[test]
    fn spread_spans_the_front() {
        assert_eq!(spread(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(spread(3, 5), vec![0, 1, 2]);
        assert_eq!(spread(7, 1), vec![0]);
        assert_eq!(spread(5, 2), vec![0, 4]);
        assert!(spread(0, 3).is_empty());
    }
}
