// Package config declares every PAW_* environment variable once, with its
// default and meaning, and parses them into a Config.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Var is one environment variable paw reads.
type Var struct {
	Name    string
	Default string
	Doc     string
}

// Vars lists every variable, in the order `paw help environment` prints them.
var Vars = []Var{
	{"PAW_LOG_LEVEL", "warn", "diagnostics on stderr: debug, info, warn or error (debug includes llama.cpp's own log)"},
	{"PAW_THREADS", "0", "compute threads; 0 = one per CPU core (more than the cores is never used)"},
}

// Config is the parsed environment.
type Config struct {
	LogLevel slog.Level
	Threads  int
}

// FromEnv parses the PAW_* variables, naming the variable in any error.
func FromEnv() (Config, error) {
	var c Config
	if err := c.LogLevel.UnmarshalText([]byte(get("PAW_LOG_LEVEL"))); err != nil {
		return c, fmt.Errorf("PAW_LOG_LEVEL=%q: want debug, info, warn or error", os.Getenv("PAW_LOG_LEVEL"))
	}
	n, err := strconv.Atoi(get("PAW_THREADS"))
	if err != nil || n < 0 {
		return c, fmt.Errorf("PAW_THREADS=%q: want a whole number >= 0", os.Getenv("PAW_THREADS"))
	}
	c.Threads = n
	return c, nil
}

// get returns the variable's value or its declared default.
func get(name string) string {
	if v, ok := os.LookupEnv(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	for _, v := range Vars {
		if v.Name == name {
			return v.Default
		}
	}
	panic("config: undeclared variable " + name)
}
