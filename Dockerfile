# Lanyard as a static binary on an empty base image, run as a non-root user.
#
#   docker build -t lanyard .
#   docker run --rm -p 4433:4433 -p 4434:4434 -v "$PWD/lanyard.yml:/etc/lanyard/lanyard.yml:ro" \
#     lanyard serve -c /etc/lanyard/lanyard.yml
#
# compose.yaml runs it with PostgreSQL; scripts/try-container builds and tries both.

# The Go toolchain image to build with; scripts/try-container passes a locally
# made image of the same shape where no registry is reachable.
ARG BUILDER_IMAGE=golang:1.26.8-bookworm

FROM ${BUILDER_IMAGE} AS build
# Lets a build use a module mirror; empty means Go's default.
ARG GOPROXY
ARG VERSION=""
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# timetzdata: scratch has no /usr/share/zoneinfo.
RUN go build -trimpath -tags timetzdata -ldflags "-s -w -X main.version=${VERSION}" -o /out/root/usr/bin/lanyard ./cmd/lanyard \
 && mkdir -p /out/root/etc/ssl/certs /out/root/tmp /out/root/var/lib /out/data \
 && chmod 1777 /out/root/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /out/root/etc/ssl/certs/ \
 && mkdir -p /out/root/etc/lanyard \
 && cp internal/schema/default.schema.json /out/root/etc/lanyard/identity.schema.json \
 && /out/root/usr/bin/lanyard version

FROM scratch
COPY --from=build /out/root/ /
COPY --from=build --chown=65532:65532 /out/data/ /var/lib/lanyard/
# /etc/lanyard/identity.schema.json is the email-and-password schema serve --dev
# uses, for configs that name it (compose.yaml does); mount your own over it.
# No /etc/passwd is needed: the numeric ids are the distroless "nonroot" ones.
USER 65532:65532
# serve --dev keeps its SQLite database and generated secrets under ./.lanyard.
WORKDIR /var/lib/lanyard
EXPOSE 4433 4434
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["lanyard", "health"]
ENTRYPOINT ["lanyard"]
CMD ["serve"]
