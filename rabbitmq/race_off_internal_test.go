//go:build !race

package rabbitmq

const raceEnabled = false
