package monitor

import "math"

// DefaultPSIEpsilon is the floor applied to both the expected and the actual
// share of each bin before PSI takes logarithms (see [psi]).
const DefaultPSIEpsilon = 1e-4

// psi returns the population stability index Σ (a_i − e_i)·ln(a_i/e_i) of the
// actual shares counts[i]/n against the expected shares expected[i], every
// share floored at eps first: an empty bin on either side would otherwise
// make the term infinite. The floor is applied without renormalising, so the
// floored shares may sum to slightly more than 1; with eps = 1e-4 an empty
// bin facing a share e contributes about e·ln(e/1e-4), e.g. 0.1·ln(1000) ≈
// 0.69 for a decile that vanished. NaN when n is 0.
func psi(counts []uint64, n uint64, expected []float64, eps float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	s := 0.0
	for i, c := range counts {
		a := max(float64(c)/float64(n), eps)
		e := max(expected[i], eps)
		s += (a - e) * math.Log(a/e)
	}
	return s
}

// binnedKS returns the Kolmogorov–Smirnov statistic between two binned
// distributions of the finite values: the largest |F_baseline − F_window| over
// the inner bin edges, where each F is the cumulative share of the finite
// values (nulls excluded) at the edge. counts are the window's per-bin counts
// (nulls excluded), expected the baseline's per-bin fractions (over all rows,
// so they are renormalised by their sum). NaN if either side has no finite
// values.
//
// On binned data this is a lower bound of the KS statistic of the raw
// values: the CDFs are compared only at the baseline's edges.
func binnedKS(counts []uint64, expected []float64) (d float64, nWindow uint64) {
	var eTot float64
	for i, c := range counts {
		nWindow += c
		eTot += expected[i]
	}
	if nWindow == 0 || !(eTot > 0) {
		return math.NaN(), nWindow
	}
	var cw uint64
	var ce float64
	for i := 0; i < len(counts)-1; i++ { // both CDFs are 1 after the last bin
		cw += counts[i]
		ce += expected[i]
		d = max(d, math.Abs(float64(cw)/float64(nWindow)-ce/eTot))
	}
	return d, nWindow
}

// ksPValue is the asymptotic two-sample KS p-value of statistic d for samples
// of nWindow and nBaseline values: Q_KS(λ) with effective n = n₁n₂/(n₁+n₂) and
// λ = (√n + 0.12 + 0.11/√n)·d, Stephens' (1970) small-sample correction as in
// Numerical Recipes' probks (it tends to √n·d as n grows). nBaseline ≤ 0
// means unknown and treated as infinite (n = nWindow).
func ksPValue(d float64, nWindow, nBaseline float64) float64 {
	if math.IsNaN(d) || nWindow <= 0 {
		return math.NaN()
	}
	n := nWindow
	if nBaseline > 0 {
		n = nWindow * nBaseline / (nWindow + nBaseline)
	}
	sn := math.Sqrt(n)
	return kolmogorovQ((sn + 0.12 + 0.11/sn) * d)
}

// kolmogorovQ is the survival function of the Kolmogorov distribution,
// Q(λ) = P(K > λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2j²λ²}. The alternating series
// converges slowly for small λ, where the Jacobi-theta form
// 1 − (√(2π)/λ) Σ_{j≥1} e^{−(2j−1)²π²/(8λ²)} is used instead; both are
// accurate to ~1e-15 on their side of λ = 1.18.
func kolmogorovQ(lambda float64) float64 {
	switch {
	case math.IsNaN(lambda):
		return math.NaN()
	case lambda <= 0:
		return 1
	case lambda < 1.18:
		y := math.Exp(-math.Pi * math.Pi / (8 * lambda * lambda))
		// Σ_{j=1..4} y^((2j−1)²); y ≤ e^−0.886 here, so y^81 < 1e-31.
		s := y + math.Pow(y, 9) + math.Pow(y, 25) + math.Pow(y, 49)
		return 1 - math.Sqrt(2*math.Pi)/lambda*s
	default:
		s := 0.0
		sign := 1.0
		for j := 1; j <= 100; j++ {
			t := math.Exp(-2 * float64(j*j) * lambda * lambda)
			s += sign * t
			if t < 1e-18 {
				break
			}
			sign = -sign
		}
		return max(0, min(1, 2*s))
	}
}

// moments accumulates count, mean and the sum of squared deviations of a
// stream (Welford), and merges with another (Chan et al.): numerically stable
// where Σx² − (Σx)²/n is not.
type moments struct {
	n    float64
	mean float64
	m2   float64
}

func (m *moments) add(x float64) {
	m.n++
	d := x - m.mean
	m.mean += d / m.n
	m.m2 += d * (x - m.mean)
}

func (m *moments) merge(o moments) {
	if o.n == 0 {
		return
	}
	if m.n == 0 {
		*m = o
		return
	}
	n := m.n + o.n
	d := o.mean - m.mean
	m.mean += d * o.n / n
	m.m2 += o.m2 + d*d*m.n*o.n/n
	m.n = n
}

// variance is the population variance (divide by n), NaN for n = 0.
func (m *moments) variance() float64 {
	if m.n == 0 {
		return math.NaN()
	}
	return m.m2 / m.n
}
