module github.com/paw-dev/paw/bench

go 1.26.8

replace github.com/paw-dev/paw => ../

require (
	github.com/hybridgroup/yzma v1.28.0
	github.com/paw-dev/paw v0.0.0-00010101000000-000000000000
)

require (
	github.com/bahlo/generic-list-go v0.2.0 // indirect
	github.com/buger/jsonparser v1.1.2 // indirect
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/ebitengine/purego v0.10.0 // indirect
	github.com/invopop/jsonschema v0.14.0 // indirect
	github.com/jupiterrider/ffi v0.7.0 // indirect
	github.com/ollama/ollama v0.17.4 // indirect
	github.com/pb33f/ordered-map/v2 v2.3.1 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	go.yaml.in/yaml/v4 v4.0.0-rc.2 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.35.0 // indirect
)
