package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	_ "github.com/tetherfn/tether/bindings/all" // every binding type a components folder may name
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/deploy"
	"github.com/tetherfn/tether/internal/gen"
	"github.com/tetherfn/tether/internal/image"
)

func init() { register(newDeployCommand) }

// deployOptions are tether deploy's flags.
type deployOptions struct {
	env, image, outDir, namespace, target, kubeContext string
	functions                                          []string
	apply, build                                       bool
	render                                             deploy.Options
}

func newDeployCommand(env *Env) *cobra.Command {
	var o deployOptions
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "deploy [package] --env <env> --image <repository>",
		Short: "Render a function's Kubernetes manifests, scaled by KEDA from its trigger",
		Long: `deploy renders the Kubernetes manifests of the package's functions (default:
the package in the current folder) from their //tether:function directives
and the component files of components/<env> in the package's folder (else
of components/, where tether new writes them):

  per function: a ServiceAccount; a ConfigMap with the component files it
  uses, mounted where TETHER_COMPONENTS points; a Secret skeleton naming
  every secretKeyRef and envRef (keys only, never a value); a Deployment
  (image pinned by digest, non-root, read-only root filesystem, no
  capabilities, probes on /healthz and /readyz, JSON logs, a grace period
  longer than the runtime's drain, Prometheus scrape annotations); and
  the scaling its trigger allows: a KEDA ScaledObject and
  TriggerAuthentication (SQS, Kafka, RabbitMQ, Redis Streams, NATS
  JetStream, PostgreSQL queue, Pub/Sub), fixed replicas with the reason
  written above them (cron, MQTT), or a Service for webhooks, a Knative
  Service with --target knative.

Images are <repository>/<function>; --build builds and pushes them first
(tether build) and pins their digests. Without --build, give --image a
reference with a digest (one function), or the manifests name :latest and
say so.

The manifests go to stdout, or with -o to one file per object plus a
kustomization.yaml. --apply sends them to the cluster of the current kube
context with server-side apply (Secret skeletons excepted: create those
Secrets yourself). Mapping and details: docs/deploy.md.`,
		Example: `  # look at the manifests
  tether deploy ./orders --env prod --image ghcr.io/acme

  # build and push the images, pin their digests, write a kustomize folder
  tether deploy ./orders --env prod --image ghcr.io/acme --build -o deploy/prod

  # a webhook function on Knative, applied to the current cluster
  tether deploy ./hooks --env prod --image ghcr.io/acme --target knative --build --apply`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.render.Target = deploy.Target(o.target)
			o.render.ShutdownGrace = grace
			if o.image == "" {
				return usageError(cmd, "--image is required: the registry repository the images are under (e.g. ghcr.io/acme), or one image reference")
			}
			if o.target != string(deploy.Kubernetes) && o.target != string(deploy.Knative) {
				return usageError(cmd, fmt.Sprintf("--target %q: want kubernetes or knative", o.target))
			}
			if o.render.MaxReplicas < 1 {
				return usageError(cmd, "--max-replicas must be at least 1")
			}
			if grace < 0 {
				return usageError(cmd, "--shutdown-grace must not be negative")
			}
			pkg := "."
			if len(args) == 1 {
				pkg = args[0]
			}
			return runDeploy(cmd.Context(), env, pkg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "prod", "the environment: the component files of components/<env> in the package's folder, else of components/")
	f.StringVar(&o.image, "image", "", "registry repository of the images (<repository>/<function>), or one function's image reference")
	f.StringVarP(&o.outDir, "output-dir", "o", "", "write one file per object and a kustomization.yaml into this folder instead of stdout")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of every object (default: kubectl's or the kustomization's)")
	f.StringVar(&o.target, "target", string(deploy.Kubernetes), "kubernetes (Deployment, KEDA) or knative (Knative Service, webhook functions only)")
	f.StringSliceVar(&o.functions, "function", nil, "deploy only these functions (repeat or comma-separate; default: all in the package)")
	f.BoolVar(&o.apply, "apply", false, "apply the manifests to the current kube context with kubectl apply --server-side")
	f.StringVar(&o.kubeContext, "context", "", "kube context for --apply (default: the current one)")
	f.BoolVar(&o.build, "build", false, "build and push the images first (tether build) and pin their digests")
	f.DurationVar(&grace, "shutdown-grace", 25*time.Second, "the runtime's drain after SIGTERM (TETHER_SHUTDOWN_GRACE); the pod's grace period adds 5s")
	f.IntVar(&o.render.MaxReplicas, "max-replicas", 10, "most replicas KEDA or Knative may run")
	f.StringVar(&o.render.CPU, "cpu", "50m", "CPU request of each replica")
	f.StringVar(&o.render.Memory, "memory", "128Mi", "memory request and limit of each replica (GOMEMLIMIT is 90% of it)")
	f.StringVar(&o.render.PrometheusURL, "prometheus", "", "Prometheus server URL: lets MQTT triggers on shared subscriptions scale on Tether's in-flight gauge")
	withUsageHint(cmd)
	return cmd
}

func runDeploy(ctx context.Context, env *Env, pkg string, o deployOptions) error {
	wd, err := env.workDir()
	if err != nil {
		return err
	}
	fns, diags := gen.Functions([]string{pkg}, &gen.Options{Dir: wd})
	if len(diags) > 0 {
		for _, d := range diags {
			d.Pos.Filename = relative(wd, d.Pos.Filename)
			fmt.Fprintln(env.Stderr, d)
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("%s in %s; fix them first (tether generate reports the same)", plural(len(diags), "problem"), pkg)}
	}
	fns, err = selectFunctions(fns, o.functions)
	if err != nil {
		return err
	}
	if len(fns) == 0 {
		return fmt.Errorf("no //tether:function in %s: nothing to deploy", pkg)
	}
	images, pinned, err := imageRefs(ctx, env, fns, o)
	if err != nil {
		return err
	}
	o.render.Namespace = o.namespace
	// Functions are rendered with the environment of their own package.
	var objs []deploy.Object
	var problems []string
	for _, dir := range packageDirs(fns) {
		envDir, err := environmentDir(dir, o.env)
		if err != nil {
			return fmt.Errorf("environment %q of %s: %w", o.env, relative(wd, dir), err)
		}
		if filepath.Base(envDir) != o.env {
			fmt.Fprintf(env.Stderr, "tether: environment %q: no %s, deploying with %s\n", o.env, relative(wd, filepath.Join(envDir, o.env)), relative(wd, envDir))
		}
		set, err := component.Load([]string{envDir}, &component.Options{Unresolved: true})
		var cd component.Diagnostics
		if errors.As(err, &cd) {
			for _, d := range cd {
				d.File = relative(wd, d.File)
				problems = append(problems, d.Error())
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("environment %q of %s: %w", o.env, relative(wd, dir), err)
		}
		var batch []deploy.Function
		for _, f := range fns {
			if f.Dir == dir {
				batch = append(batch, deploy.Function{Name: f.Name, Trigger: f.Trigger, Components: f.Components(), Image: images[f.Name]})
			}
		}
		got, err := deploy.Render(batch, set, &o.render)
		if err != nil {
			problems = append(problems, strings.Split(strings.ReplaceAll(err.Error(), wd+string(filepath.Separator), ""), "\n")...)
			continue
		}
		objs = append(objs, got...)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(env.Stderr, p)
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("%s; nothing written", plural(len(problems), "problem"))}
	}
	if !pinned {
		fmt.Fprintf(env.Stderr, "tether: warning: images are not pinned by digest (%s): deploy with --build, or give --image a reference with @sha256:\n", images[fns[0].Name])
	}
	if o.outDir != "" {
		paths, err := deploy.WriteDir(absIn(wd, o.outDir), o.namespace, objs)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "wrote %s in %s\n", plural(len(paths), "file"), o.outDir)
	} else if !o.apply {
		return deploy.WriteStream(env.Stdout, objs)
	}
	if o.apply {
		return applyObjects(ctx, env, objs, o)
	}
	return nil
}

// environmentDir is the folder of the environment's component files:
// components/<env>, else components/ (where tether new writes the files
// meant for a deployment; components/local is for tether run and dev), as
// tether build reads them.
func environmentDir(pkgDir, env string) (string, error) {
	for _, d := range []string{filepath.Join(pkgDir, "components", env), filepath.Join(pkgDir, "components")} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			if d == filepath.Join(pkgDir, "components") && !hasComponentFiles(d) {
				break
			}
			return d, nil
		}
	}
	return "", fmt.Errorf("no folder components/%s (nor component files in components/): create it with the component files to deploy with (see docs/deploy.md)", env)
}

func hasComponentFiles(dir string) bool {
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
			return true
		}
	}
	return false
}

// selectFunctions keeps the functions named by --function.
func selectFunctions(fns []gen.Function, names []string) ([]gen.Function, error) {
	if len(names) == 0 {
		return fns, nil
	}
	var out []gen.Function
	var known []string
	for _, f := range fns {
		known = append(known, f.Name)
		if slices.Contains(names, f.Name) {
			out = append(out, f)
		}
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("--function %s: no such function (the package has: %s)", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

func packageDirs(fns []gen.Function) []string {
	var dirs []string
	for _, f := range fns {
		if !slices.Contains(dirs, f.Dir) {
			dirs = append(dirs, f.Dir)
		}
	}
	return dirs
}

// imageRefs names each function's image: <repository>/<function>, pinned by
// the digest --build pushed, or the one reference --image gives.
func imageRefs(ctx context.Context, env *Env, fns []gen.Function, o deployOptions) (map[string]string, bool, error) {
	refs := map[string]string{}
	last := o.image[strings.LastIndex(o.image, "/")+1:]
	if strings.Contains(last, "@") || strings.Contains(last, ":") { // one image, by digest or tag
		if o.build {
			return nil, false, fmt.Errorf("--build pushes <repository>/<function>: give --image the repository (e.g. %s), not an image reference", strings.TrimSuffix(o.image, "/"+last))
		}
		if len(fns) > 1 {
			return nil, false, fmt.Errorf("--image %s names one image and the package has %d functions: give the repository, or --function to pick one", o.image, len(fns))
		}
		refs[fns[0].Name] = o.image
		return refs, strings.Contains(last, "@sha256:"), nil
	}
	repo := strings.TrimSuffix(o.image, "/")
	if o.build {
		digests, err := buildImages(ctx, env, fns, repo, o.env)
		if err != nil {
			return nil, false, err
		}
		for _, f := range fns {
			refs[f.Name] = repo + "/" + f.Name + "@" + digests[f.Name]
		}
		return refs, true, nil
	}
	for _, f := range fns {
		refs[f.Name] = repo + "/" + f.Name + ":latest"
	}
	return refs, false, nil
}

// buildImages runs tether build --push for the functions (one package
// folder at a time) and returns their digests by function.
var buildImages = func(ctx context.Context, env *Env, fns []gen.Function, repo, envName string) (map[string]string, error) {
	digests := map[string]string{}
	for _, dir := range packageDirs(fns) {
		var names []string
		for _, f := range fns {
			if f.Dir == dir {
				names = append(names, f.Name)
			}
		}
		res, err := image.Build(ctx, image.Options{Dir: dir, Functions: names, Env: envName, Repository: repo, Push: true, Log: env.Stderr})
		if err != nil {
			return nil, fmt.Errorf("--build: %w", err)
		}
		for _, img := range res.Images {
			digests[img.Function] = img.Digest
		}
	}
	for _, f := range fns {
		if digests[f.Name] == "" {
			return nil, fmt.Errorf("--build: tether build made no image for %s", f.Name)
		}
	}
	return digests, nil
}

// kubectlApply is the command line --apply runs, the manifests on stdin.
func kubectlApply(kubeContext string) []string {
	args := []string{"kubectl"}
	if kubeContext != "" {
		args = append(args, "--context", kubeContext)
	}
	return append(args, "apply", "--server-side", "--field-manager=tether", "-f", "-")
}

// applyObjects sends the objects but the Secret skeletons to the cluster
// with server-side apply, after checking that kubectl and a kube context
// exist.
func applyObjects(ctx context.Context, env *Env, objs []deploy.Object, o deployOptions) error {
	var apply []deploy.Object
	for _, obj := range objs {
		if !obj.Skeleton {
			apply = append(apply, obj)
		}
	}
	argv := kubectlApply(o.kubeContext)
	command := strings.Join(argv, " ")
	if o.outDir != "" {
		command = strings.Join(argv[:len(argv)-2], " ") + " -k " + o.outDir
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return fmt.Errorf("--apply needs kubectl on PATH and a kube context; none found.\nApply the manifests yourself once a cluster is reachable: tether deploy ... | %s", command)
	}
	check := []string{"config", "current-context"}
	if o.kubeContext != "" {
		check = []string{"config", "get-contexts", o.kubeContext}
	}
	var stderr bytes.Buffer
	c := exec.CommandContext(ctx, kubectl, check...)
	c.Stderr = &stderr
	if out, err := c.Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
		return fmt.Errorf("--apply needs a kube context and kubectl has none (%s).\nSet one (kubectl config use-context NAME, or --context), then run: %s", strings.TrimSpace(firstNonEmpty(stderr.String(), errString(err))), command)
	}
	var buf bytes.Buffer
	if err := deploy.WriteStream(&buf, apply); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "running:", strings.Join(argv, " "))
	run := exec.CommandContext(ctx, kubectl, argv[1:]...)
	run.Stdin, run.Stdout, run.Stderr = &buf, env.Stdout, env.Stderr
	if err := run.Run(); err != nil {
		return fmt.Errorf("kubectl apply: %w (is KEDA installed? the ScaledObject needs its CRDs)", err)
	}
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func errString(err error) string {
	if err == nil {
		return "empty current-context"
	}
	return err.Error()
}
