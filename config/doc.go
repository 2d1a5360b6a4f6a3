// Package config is the bridge's whole configuration: one YAML file, then
// BRIDGE_* environment variables, then the flags a command sets, over the
// documented defaults, read with koanf and checked with validator before
// anything starts.
//
// Why a package of its own: every command of the bridge (serve, scan, dlq,
// route) reads the same settings, and the checks that make a bad setting a
// clear start-up error belong in one place rather than spread over main.
// Each part keeps the type of its own settings (handlers.ReceiverConfig,
// queue.Config, scanner.Config, natsconn.Config); this package assembles
// them under the keys README.md documents, fills the defaults that cross
// parts (a receiver's HSS target from the hss section) and names each bad
// setting as the user writes it. config_test.go loads README's complete
// example, so the documented keys and defaults cannot drift from the code.
//
// Dependencies: the settings types of handlers, queue, scanner and
// natsconn, koanf and validator. It must not import admin or cmd/bridge:
// it describes the parts and starts none of them.
package config
