package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/egress"
	"github.com/lanyard-id/lanyard/internal/metrics"
	"github.com/lanyard-id/lanyard/internal/store"
)

func courierCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "courier",
		Short: "Message courier commands",
		Args:  cobra.NoArgs,
	}
	var metricsPort int
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Run the courier worker standalone",
		Long: `Deliver queued emails and SMS messages until interrupted. Any number of
workers may run against one PostgreSQL database: each message is sent once.
Use it instead of "serve --watch-courier" when the API runs as several processes.
With --expose-metrics-port it serves, as Kratos does, Prometheus metrics at
/metrics/prometheus (messages by status, delivery results, Go and process
figures) beside /health/alive and /health/ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return watchCourier(ctx, config.LoadOptions{Files: g.configFiles}, metricsPort)
		},
	}
	watch.Flags().IntVar(&metricsPort, "expose-metrics-port", 0, "serve Prometheus metrics at /metrics/prometheus, and /health/alive and /health/ready, on this port (0: off)")
	cmd.AddCommand(watch)
	return cmd
}

func watchCourier(ctx context.Context, opts config.LoadOptions, metricsPort int) error {
	if metricsPort < 0 || metricsPort > 65535 {
		return fmt.Errorf("--expose-metrics-port: %d is not a port", metricsPort)
	}
	cfg, err := loadConfig(opts)
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	outbound, err := egress.New(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs)
	if err != nil {
		return err
	}
	c, err := courier.New(cfg.Courier, cfg.Dev, db, courier.WithOutbound(outbound))
	if err != nil {
		return err
	}

	// The same collectors as a courier inside serve --watch-courier, so
	// that a standalone worker is monitored the same way.
	observed := metrics.New(c.CountByStatus)
	c.ReportResults(observed.CourierSent)

	if metricsPort > 0 {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(metricsPort))
		if err != nil {
			return fmt.Errorf("--expose-metrics-port: %w", err)
		}
		srv := newServer(courierEndpoints(db, observed))
		go func() { _ = srv.Serve(ln) }()
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
		}()
		slog.Info("courier metrics and health endpoints listening", "address", ln.Addr().String())
	}

	slog.Info("courier worker started", "database", db.String())
	err = c.Run(ctx)
	slog.Info("courier worker stopped")
	return err
}

// courierEndpoints is what --expose-metrics-port serves: Kratos's
// /metrics/prometheus and the health checks.
func courierEndpoints(db *store.Store, observed *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics/prometheus", observed.Handler())
	mux.HandleFunc("GET /health/alive", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := db.Ping(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errors":{"database":"not reachable"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	return mux
}
