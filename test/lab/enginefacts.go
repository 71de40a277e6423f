package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// EngineFacts is what a machine's dockerd says it runs.
type EngineFacts struct {
	EngineVersion     string `json:"engine_version"`
	ContainerdVersion string `json:"containerd_version"`
	StorageDriver     string `json:"storage_driver"`
	ImageStore        string `json:"image_store"`
}

// engineFactsScript prints the server version, the containerd component's
// version, the storage driver and DriverStatus as JSON, one per line.
const engineFactsScript = `docker version --format '{{.Server.Version}}{{"\n"}}{{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}' &&
docker info --format '{{.Driver}}{{"\n"}}{{json .DriverStatus}}'`

// parseEngineFacts reads engineFactsScript's output. The containerd store
// shows as DriverStatus [["driver-type", "io.containerd.snapshotter.v1"]].
func parseEngineFacts(out string) (EngineFacts, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 {
		return EngineFacts{}, fmt.Errorf("engine facts: want 4 lines, got %q", out)
	}
	f := EngineFacts{
		EngineVersion: strings.TrimSpace(lines[0]), ContainerdVersion: strings.TrimSpace(lines[1]),
		StorageDriver: strings.TrimSpace(lines[2]), ImageStore: StoreClassic,
	}
	var status [][]string
	if err := json.Unmarshal([]byte(lines[3]), &status); err != nil && lines[3] != "null" {
		return f, fmt.Errorf("engine facts: DriverStatus %q: %v", lines[3], err)
	}
	for _, kv := range status {
		if len(kv) == 2 && kv[1] == "io.containerd.snapshotter.v1" {
			f.ImageStore = StoreContainerd
		}
	}
	if f.EngineVersion == "" {
		return f, fmt.Errorf("engine facts: no server version in %q", out)
	}
	return f, nil
}

// ReadEngine asks a machine's dockerd what it runs.
func (l *Lab) ReadEngine(ctx context.Context, machine string) (EngineFacts, error) {
	out, err := l.Exec(ctx, machine, "sh", "-c", engineFactsScript)
	if err != nil {
		return EngineFacts{}, fmt.Errorf("%s: %v: %s", machine, err, out)
	}
	f, err := parseEngineFacts(out)
	if err != nil {
		return f, fmt.Errorf("%s: %w", machine, err)
	}
	return f, nil
}

// recordEngines reads what each machine's dockerd runs into the lab's
// state and fails when a machine does not run the image store it was made
// for. Callers serialise changes of the state (Up, AddMachine under l.mu).
func (l *Lab) recordEngines(ctx context.Context, ms []Machine) error {
	var mu sync.Mutex
	facts := map[string]EngineFacts{}
	err := parallel(ctx, ms, 4, func(m Machine) error {
		f, err := l.ReadEngine(ctx, m.Name)
		if err != nil {
			return err
		}
		if f.ImageStore != m.ImageStore {
			return fmt.Errorf("%s: made for the %s image store, its dockerd runs the %s store (driver %s)", m.Name, m.ImageStore, f.ImageStore, f.StorageDriver)
		}
		mu.Lock()
		facts[m.Name] = f
		mu.Unlock()
		return nil
	})
	for i, m := range l.st.Machines {
		if f, ok := facts[m.Name]; ok {
			l.st.Machines[i].EngineVersion, l.st.Machines[i].ContainerdVersion = f.EngineVersion, f.ContainerdVersion
			l.st.Machines[i].StorageDriver, l.st.Machines[i].ImageStore = f.StorageDriver, f.ImageStore
		}
	}
	return err
}

// RefreshEngines asks every machine's dockerd what it runs now and returns
// the machines with those values (lab.json keeps what Up read).
func (l *Lab) RefreshEngines(ctx context.Context) ([]Machine, error) {
	ms := l.Machines()
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := l.ReadEngine(ctx, ms[i].Name)
			if err != nil {
				errs[i] = err
				return
			}
			ms[i].EngineVersion, ms[i].ContainerdVersion = f.EngineVersion, f.ContainerdVersion
			ms[i].StorageDriver, ms[i].ImageStore = f.StorageDriver, f.ImageStore
		}()
	}
	wg.Wait()
	return ms, errors.Join(errs...)
}
