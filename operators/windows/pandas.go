package windows

import "math"

// This file transcribes the rolling kernels of pandas 3.1.1,
// pandas/_libs/window/aggregations.pyx: add_mean / remove_mean / calc_mean
// (used by roll_mean) and add_var / remove_var / calc_var (used by roll_var),
// and the std wrapper zsqrt (pandas/core/window/common.py). Variable names
// follow pandas so the two can be read side by side.
//
// Why copy pandas rather than use any stable algorithm: the model is trained
// on pandas output, and a different (even more accurate) algorithm differs in
// the last bits after every window slide. With the same operations in the
// same order the results are bit-identical, and the parity test's tolerance is
// kept for real platform differences.
//
// Go may fuse x*y + z into one fused multiply-add on some architectures
// (arm64, ppc64le, s390x, riscv64), which rounds once instead of twice and so
// changes bits: without the conversions below, GOARCH=arm64 compiles the two
// ssqdm_x updates to FMADDD/FMSUBD. The spec forbids fusion across an
// explicit conversion, hence float64(...) around every product that is added
// to something; the results are then the same on every GOARCH. They equal
// pandas' x86-64 build (baseline x86-64 has no FMA; verified bit for bit by
// TestPandasParity against pandas 3.1.1). A pandas built with FMA contraction
// (GCC's default -ffp-contract=fast on aarch64) may differ in the last bits,
// so compare against x86-64 pandas, or within a tolerance.
//
// Note on versions: pandas 1.4–2.x's roll_var also tracked
// num_consecutive_same_value and returned 0 for a window of identical values.
// pandas 3.x replaced that by the numerically_unstable recompute below (a
// window of identical values still gets exactly 0: adding equal values keeps
// ssqdm_x at exactly 0, and a removal that cancels most of ssqdm_x triggers a
// recompute from scratch). roll_mean kept its consecutive-same-value rule.

// invCondTol is pandas' InvCondTol = EpsF64 * 1e3: an update is deemed
// ill-conditioned when it leaves ssqdm_x below prev_m2 * invCondTol, i.e. with
// at most ~3 significant decimal digits.
var invCondTol = float64(0x1p-52) * 1e3

// meanAcc is roll_mean's running state for one window.
type meanAcc struct {
	nobs       int64   // nobs: values in the window
	sumX       float64 // sum_x: Kahan-compensated sum
	compAdd    float64 // compensation_add
	compRemove float64 // compensation_remove
	negCt      int64   // neg_ct: values with the sign bit set
	// numConsecutiveSameValue counts the trailing run of added values equal
	// to prevValue (GH#42064); when it covers nobs every value in the window
	// is prevValue and the mean is returned exactly. It is not decremented on
	// removal: run ≥ nobs still means "all equal".
	numConsecutiveSameValue int64
	prevValue               float64
}

// reset is roll_mean's "setup" branch (i == 0, or the new window does not
// overlap the previous one: s >= end[i-1]) before its add loop. first is
// values[s], the first value of the new window.
func (m *meanAcc) reset(first float64) {
	*m = meanAcc{prevValue: first}
}

// add is add_mean (amounts are never NaN here; Observe rejects them).
func (m *meanAcc) add(val float64) {
	m.nobs++
	y := val - m.compAdd
	t := m.sumX + y
	m.compAdd = t - m.sumX - y
	m.sumX = t
	if math.Signbit(val) {
		m.negCt++
	}
	if val == m.prevValue {
		m.numConsecutiveSameValue++
	} else {
		m.numConsecutiveSameValue = 1
	}
	m.prevValue = val
}

// addLate adds a late value that is inserted k positions before the end of the
// window (k ≥ 1 values follow it). The Kahan/neg_ct part is add_mean's; the
// same-value run is repaired instead of extended, because the run describes
// the trailing values in event-time order and the late value is not trailing.
// Invariant kept: the last min(run, nobs) values in event-time order all equal
// prevValue.
func (m *meanAcc) addLate(val float64, k int64) {
	m.nobs++
	y := val - m.compAdd
	t := m.sumX + y
	m.compAdd = t - m.sumX - y
	m.sumX = t
	if math.Signbit(val) {
		m.negCt++
	}
	switch {
	case k > m.numConsecutiveSameValue:
		// Inserted before the run: the run is unchanged.
	case val == m.prevValue:
		m.numConsecutiveSameValue++ // inserted into (or at the start of) the run
	default:
		m.numConsecutiveSameValue = k // splits the run: only the k after it remain
	}
}

// remove is remove_mean.
func (m *meanAcc) remove(val float64) {
	m.nobs--
	y := -val - m.compRemove
	t := m.sumX + y
	m.compRemove = t - m.sumX - y
	m.sumX = t
	if math.Signbit(val) {
		m.negCt--
	}
}

// mean is calc_mean with minp = 1.
func (m *meanAcc) mean() float64 {
	if m.nobs <= 0 {
		return math.NaN()
	}
	result := m.sumX / float64(m.nobs)
	switch {
	case m.numConsecutiveSameValue >= m.nobs:
		result = m.prevValue
	case m.negCt == 0 && result < 0:
		result = 0 // all positive
	case m.negCt == m.nobs && result > 0:
		result = 0 // all negative
	}
	return result
}

// varAcc is roll_var's running state for one window. nobs is a float64 as in
// pandas (exact for any count below 2^53).
type varAcc struct {
	nobs       float64
	meanX      float64 // mean_x
	ssqdmX     float64 // ssqdm_x: sum of squared differences from the mean
	compAdd    float64 // compensation_add
	compRemove float64 // compensation_remove
}

// add is add_var; it reports pandas' numerically_unstable condition.
func (v *varAcc) add(val float64) (unstable bool) {
	prevM2 := v.ssqdmX
	v.nobs = v.nobs + 1
	// Welford's method with Kahan summation, exactly as pandas writes it.
	prevMean := v.meanX - v.compAdd
	y := val - v.compAdd
	t := y - v.meanX
	v.compAdd = t + v.meanX - y
	delta := t
	if v.nobs != 0 {
		v.meanX = v.meanX + delta/v.nobs
	} else {
		v.meanX = 0
	}
	v.ssqdmX = v.ssqdmX + float64((val-prevMean)*(val-v.meanX))
	// possible catastrophic cancellation
	return prevM2*invCondTol > v.ssqdmX
}

// remove is remove_var; it reports pandas' numerically_unstable condition.
// (pandas also clears the flag when the window empties; our callers never
// empty a window by removal, they reset it instead.)
func (v *varAcc) remove(val float64) (unstable bool) {
	prevM2 := v.ssqdmX
	v.nobs = v.nobs - 1
	if v.nobs == 0 {
		v.meanX = 0
		v.ssqdmX = 0
		return false
	}
	prevMean := v.meanX - v.compRemove
	y := val - v.compRemove
	t := y - v.meanX
	v.compRemove = t + v.meanX - y
	delta := t
	v.meanX = v.meanX - delta/v.nobs
	v.ssqdmX = v.ssqdmX - float64((val-prevMean)*(val-v.meanX))
	return prevM2*invCondTol > v.ssqdmX
}

// std is zsqrt(calc_var(minp=1, ddof=1)): NaN below two values, and 0 where
// rounding left the variance negative (zsqrt masks x < 0 to 0).
func (v *varAcc) std() float64 {
	if !(v.nobs >= 1 && v.nobs > 1) {
		return math.NaN()
	}
	result := v.ssqdmX / (v.nobs - 1)
	if result < 0 {
		return 0
	}
	return math.Sqrt(result)
}

// recompute is roll_var's recompute branch ("requires_recompute or
// numerically_unstable"): zero everything, including both compensations, add
// the window's values in order, and drop the flag.
func (v *varAcc) recompute(window []StoredEvent) {
	*v = varAcc{}
	for i := range window {
		v.add(window[i].Amount)
	}
}
