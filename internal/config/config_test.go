package config

import (
	"log/slog"
	"testing"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name, level, threads string
		want                 Config
		wantErr              bool
	}{
		{name: "defaults", want: Config{LogLevel: slog.LevelWarn}},
		{name: "set", level: "debug", threads: "2", want: Config{LogLevel: slog.LevelDebug, Threads: 2}},
		{name: "bad level", level: "loud", wantErr: true},
		{name: "negative threads", threads: "-1", wantErr: true},
		{name: "words for threads", threads: "many", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PAW_LOG_LEVEL", tt.level)
			t.Setenv("PAW_THREADS", tt.threads)
			got, err := FromEnv()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
