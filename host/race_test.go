//go:build race

package host_test

// raceEnabled: the race detector is on; stress tests take fewer rounds.
const raceEnabled = true
