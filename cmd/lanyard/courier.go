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
Use it instead of "serve --watch-courier" when the API runs as several processes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return watchCourier(ctx, config.LoadOptions{Files: g.configFiles}, metricsPort)
		},
	}
	watch.Flags().IntVar(&metricsPort, "expose-metrics-port", 0, "serve /health/alive and /health/ready on this port (0: off)")
	cmd.AddCommand(watch)
	return cmd
}

func watchCourier(ctx context.Context, opts config.LoadOptions, healthPort int) error {
	if healthPort < 0 || healthPort > 65535 {
		return fmt.Errorf("--expose-metrics-port: %d is not a port", healthPort)
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
	c, err := courier.New(cfg.Courier, cfg.Dev, db)
	if err != nil {
		return err
	}

	if healthPort > 0 {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(healthPort))
		if err != nil {
			return fmt.Errorf("--expose-metrics-port: %w", err)
		}
		mux := http.NewServeMux()
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
		srv := newServer(mux)
		go func() { _ = srv.Serve(ln) }()
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
		}()
		slog.Info("courier health endpoints listening", "address", ln.Addr().String())
	}

	slog.Info("courier worker started", "database", db.String())
	err = c.Run(ctx)
	slog.Info("courier worker stopped")
	return err
}
