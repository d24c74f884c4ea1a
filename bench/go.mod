module github.com/paw-dev/paw/bench

go 1.26.8

replace github.com/paw-dev/paw => ../

require (
	github.com/hybridgroup/yzma v1.28.0
	github.com/paw-dev/paw v0.0.0-00010101000000-000000000000
)

require (
	github.com/ebitengine/purego v0.10.0 // indirect
	github.com/jupiterrider/ffi v0.7.0 // indirect
	github.com/ollama/ollama v0.17.4 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
