//go:build race

package server

// raceEnabled: the race detector slows Go code several times, so timing
// bounds do not hold under it.
const raceEnabled = true
