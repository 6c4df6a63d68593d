package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/lanyard-id/lanyard/internal/api"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/egress"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/metrics"
	"github.com/lanyard-id/lanyard/internal/requestid"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/tracing"
)

// shutdownGrace is how long requests in flight may take to finish after
// SIGINT or SIGTERM.
const shutdownGrace = 30 * time.Second

func serveCommand(g *globalFlags) *cobra.Command {
	var dev, watchCourier, sqaOptOut bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the public and admin APIs",
		Long: `Run the public API (default 127.0.0.1:4433 in dev mode) and the admin API
(default :4434). With --dev and no configuration, Lanyard keeps an embedded
SQLite database and generated secrets under ./.lanyard and migrates it on start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = sqaOptOut // Lanyard sends no usage statistics; accepted for Kratos compatibility.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cmd.OutOrStdout(), config.LoadOptions{Files: g.configFiles, Dev: dev, WatchCourier: watchCourier})
		},
	}
	cmd.Flags().BoolVar(&dev, "dev", false, "development mode: plain-HTTP cookies, generated secrets, embedded SQLite by default, migrations on start")
	cmd.Flags().BoolVar(&watchCourier, "watch-courier", false, "run the courier worker inside this process")
	cmd.Flags().BoolVar(&sqaOptOut, "sqa-opt-out", false, "accepted for compatibility with Kratos; Lanyard collects no usage statistics")
	return cmd
}

// loadConfig loads the config and sets up logging, printing each warning.
func loadConfig(opts config.LoadOptions) (*config.Config, error) {
	cfg, warnings, err := config.Load(opts)
	if err != nil {
		return nil, err
	}
	setupLogging(cfg.Log)
	for _, w := range warnings {
		slog.Warn(w)
	}
	return cfg, nil
}

func setupLogging(l config.Log) {
	level := slog.LevelInfo
	switch l.Level {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if l.Format == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	slog.SetDefault(slog.New(requestid.LogHandler(h)))
}

func serve(ctx context.Context, out io.Writer, opts config.LoadOptions) error {
	// Noted before the first load, so that a change made while the server
	// starts is reloaded too.
	var watcher *config.Watcher
	if len(opts.Files) > 0 {
		watcher = config.Watch(opts)
	}
	cfg, err := loadConfig(opts)
	if err != nil {
		return err
	}
	if err := config.EnsureDevSecrets(cfg); err != nil {
		return err
	}
	traces, err := tracing.Setup(ctx, cfg.Tracing, buildVersion())
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: spans of the final requests and of
	// the shutdown itself are sent too.
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := traces.Shutdown(flushCtx); err != nil {
			slog.Warn("some spans were not exported", "error", err)
		}
	}()

	db, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	outbound, err := egress.New(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs)
	if err != nil {
		return err
	}
	mail, err := courier.New(cfg.Courier, cfg.Dev, db, courier.WithOutbound(outbound))
	if err != nil {
		return err
	}
	observed := metrics.New(mail.CountByStatus)
	mail.ReportResults(observed.CourierSent)
	// whoami's cache of sessions lives as long as the process: a reload
	// keeps what it holds (sqlite.* and postgres.* are fixed).
	whoamiCfg := cfg.WhoamiCacheOf(db.Dialect() == store.Postgres)
	whoami := session.NewWhoamiCache(db, int64(whoamiCfg.MaxMiB)<<20)
	shared := &lasting{db: db, mail: mail, observed: observed, traces: traces.TracerProvider(), zeroConfig: len(opts.Files) == 0, whoami: whoami}
	publicHandler, adminHandler, err := shared.handlers(ctx, cfg)
	if err != nil {
		return err
	}
	public, admin := newSwapHandler(publicHandler), newSwapHandler(adminHandler)

	// Listen before announcing anything, so that a port in use is an
	// error and not a half-started server.
	publicLn, err := net.Listen("tcp", cfg.Serve.Public.Addr())
	if err != nil {
		return fmt.Errorf("serve.public: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.Serve.Admin.Addr())
	if err != nil {
		publicLn.Close()
		return fmt.Errorf("serve.admin: %w", err)
	}
	servers := []*http.Server{newServer(public), newServer(admin)}
	errc := make(chan error, 2)
	for k, ln := range []net.Listener{publicLn, adminLn} {
		go func() { errc <- servers[k].Serve(ln) }()
	}

	workerDone := make(chan struct{})
	workerCtx, stopWorker := context.WithCancel(context.Background())
	if cfg.WatchCourier {
		go func() {
			defer close(workerDone)
			if err := mail.Run(workerCtx); err != nil && !errors.Is(err, context.Canceled) {
				slog.Error("the courier worker stopped", "error", err)
			}
		}()
	} else {
		close(workerDone)
	}

	watchCtx, stopWatching := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	if watcher != nil {
		r := &reloader{current: cfg, build: func(c *config.Config) (http.Handler, http.Handler, error) {
			return shared.handlers(ctx, c)
		}, public: public, admin: admin}
		watcher.Changed, watcher.Refused = r.changed, r.refused
		go func() {
			defer close(watchDone)
			watcher.Run(watchCtx)
		}()
	} else {
		close(watchDone)
	}

	prefillCtx, stopPrefill := context.WithCancel(context.Background())
	prefillDone := make(chan struct{})
	if whoami != nil && whoamiCfg.Prefill {
		go func() {
			defer close(prefillDone)
			whoami.Prefill(prefillCtx)
		}()
	} else {
		close(prefillDone)
	}

	printBanner(out, cfg, db, mail)
	slog.Info("lanyard is ready", "version", buildVersion(), "public", publicLn.Addr().String(), "admin", adminLn.Addr().String(), "database", db.String())

	select {
	case <-ctx.Done():
		slog.Info("shutting down; waiting for requests in flight")
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			slog.Error("a listener failed", "error", err)
		}
	}
	stopWatching()
	<-watchDone
	stopPrefill()
	<-prefillDone
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var shutdownErr error
	for _, s := range servers {
		shutdownErr = errors.Join(shutdownErr, s.Shutdown(shutdownCtx))
	}
	// The worker stops after the listeners, so messages queued by the
	// last requests are still picked up by a sender in flight.
	stopWorker()
	<-workerDone
	if shutdownErr != nil {
		return fmt.Errorf("shutting down: %w", shutdownErr)
	}
	slog.Info("stopped")
	return nil
}

// lasting is what lives as long as the process: built once at start and
// shared by every set of handlers a reload builds.
type lasting struct {
	db         *store.Store
	mail       *courier.Courier
	observed   *metrics.Metrics
	traces     trace.TracerProvider
	zeroConfig bool
	whoami     *session.WhoamiCache

	// hasher is reused while hashers.* stays the same: its memory gate
	// bounds the argon2 hashing of the whole process, old handlers' and
	// new ones' together. Only the goroutine that builds handlers uses it.
	hasher       *hasher.Hasher
	hasherConfig config.Hashers
}

// handlers builds the public and the admin handler from cfg, at start and
// on every reload: everything a request sees comes from cfg, except what
// lasting holds.
func (l *lasting) handlers(ctx context.Context, cfg *config.Config) (public, admin http.Handler, err error) {
	sources := make([]schema.Source, 0, len(cfg.Identity.Schemas))
	for _, s := range cfg.Identity.Schemas {
		sources = append(sources, schema.Source{ID: s.ID, URL: s.URL})
	}
	schemaEgress, err := egress.New(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs)
	if err != nil {
		return nil, nil, err
	}
	schemas, err := schema.LoadGuarded(ctx, sources, cfg.Identity.DefaultSchemaID, schemaEgress)
	if err != nil {
		return nil, nil, err
	}
	if l.hasher == nil || !reflect.DeepEqual(l.hasherConfig, cfg.Hashers) {
		h, err := hasher.New(cfg.Hashers)
		if err != nil {
			return nil, nil, err
		}
		l.hasher, l.hasherConfig = h, cfg.Hashers
	}
	h := l.hasher

	publicURL, adminURL := cfg.Serve.Public.BaseURL, cfg.Serve.Admin.BaseURL
	ids := identity.NewManager(l.db, schemas, h, publicURL.String())
	guards := guard.New(cfg.Protection, l.db, cfg.Secrets.Cookie[0])
	guards.ReportRefusals(l.observed.Refused)
	publicRoutes, adminRoutes, err := selfService(cfg, l.db, l.whoami, ids, schemas, h, l.mail, guards, l.zeroConfig)
	if err != nil {
		return nil, nil, err
	}
	deps := api.Deps{
		Version:        buildVersion(),
		PublicBaseURL:  publicURL,
		AdminBaseURL:   adminURL,
		Identities:     ids,
		Schemas:        schemas,
		Ready:          l.db.Ping,
		PublicRoutes:   publicRoutes,
		AdminRoutes:    append(adminRoutes, guards.Admin(ids)),
		PublicCORS:     cfg.Serve.Public.CORS,
		PublicLimit:    guards.Middleware,
		Metrics:        l.observed,
		Traces:         l.traces,
		ConfigRevision: cfg.EffectiveRevision(),
	}
	return api.Public(deps), api.Admin(deps), nil
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
}

// openMigrated opens the configured database. In dev mode (and for the
// throwaway "memory" database) it applies migrations; otherwise it refuses
// a database that needs them, as Kratos does.
func openMigrated(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	db, err := store.Open(ctx, cfg.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.Dev || cfg.DSN == "memory" {
		applied, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("migrating the database: %w", err)
		}
		if len(applied) > 0 {
			slog.Info("migrated the database", "applied", strings.Join(applied, ", "))
		}
		return db, nil
	}
	pending, err := db.Pending(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("checking migrations: %w", err)
	}
	if pending {
		db.Close()
		return nil, errors.New("the database needs migrations: run `lanyard migrate sql -e --yes` first (or serve with --dev)")
	}
	return db, nil
}

func printBanner(out io.Writer, cfg *config.Config, db *store.Store, mail *courier.Courier) {
	mode := ""
	if cfg.Dev {
		mode = " (development mode: plain-HTTP cookies, generated secrets)"
	}
	fmt.Fprintf(out, "Lanyard %s is running%s\n", buildVersion(), mode)
	if cfg.Selfservice.Flows.Login.UIURL == "" {
		fmt.Fprintf(out, "  Open:        %s\n", cfg.PublicURL("ui/"))
	}
	fmt.Fprintf(out, "  Public API:  %s\n", cfg.PublicURL(""))
	fmt.Fprintf(out, "  Admin API:   %s\n", cfg.AdminURL(""))
	fmt.Fprintf(out, "  Database:    %s\n", db)
	fmt.Fprintf(out, "  Courier:     %s\n", mail.Describe(cfg.WatchCourier))
	fmt.Fprintf(out, "  Try:         curl %s\n", cfg.AdminURL("admin/identities"))
	fmt.Fprintf(out, "               curl %s\n", cfg.PublicURL("schemas"))
	fmt.Fprintln(out, "Stop with Ctrl-C.")
}
