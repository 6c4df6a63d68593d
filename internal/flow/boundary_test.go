package flow_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/lanyard-id/lanyard/"

// The method seam holds only if flows know methods through flow.Method
// alone: a flow package never imports a method package (directly or
// through another package), and method packages never import each other.
func TestFlowsAndMethodsImportNoMethod(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", module+"internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const flows, methods = module + "internal/flow", module + "internal/strategy/"
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		isFlow := pkg == flows || strings.HasPrefix(pkg, flows+"/")
		isMethod := strings.HasPrefix(pkg, methods)
		if !isFlow && !isMethod {
			continue
		}
		checked++
		for _, dep := range strings.Fields(deps) {
			if !strings.HasPrefix(dep, methods) || dep == pkg {
				continue
			}
			if isFlow {
				t.Errorf("flow package %s depends on method package %s", pkg, dep)
			} else if methodOf(dep) != methodOf(pkg) {
				t.Errorf("method package %s depends on another method package %s", pkg, dep)
			}
		}
	}
	if checked < 7 {
		t.Fatalf("checked %d flow and method packages, want every one (the go list output looks wrong):\n%s", checked, out)
	}
}

// methodOf is the method a package under internal/strategy belongs to.
func methodOf(pkg string) string {
	rest := strings.TrimPrefix(pkg, module+"internal/strategy/")
	name, _, _ := strings.Cut(rest, "/")
	return name
}
