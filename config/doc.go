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
// Strict: the valid keys are read off the koanf tags of the settings types
// (schema.go), so an unknown key in the file, at any depth, or an unknown
// BRIDGE_* variable is an error naming it as written and the setting most
// likely meant (suggest.go), not a setting silently left at its default.
// Every problem is one line in the user's terms (the setting, its
// variable, the rule in the setting's units, the value; rules.go words
// each validate tag once), and all of them are reported together, the
// receivers' and routes' (handlers.CheckConfig) included, before anything
// starts. Print shows the effective configuration with each value's
// source and the secrets redacted (secrets.go lists them). RestartNeeded
// (reload.go) tells a running bridge which changed settings a reload
// cannot apply.
//
// Dependencies: the settings types of handlers, queue, scanner,
// lifecycle and natsconn, koanf and validator. It must not import admin
// or cmd/bridge: it describes the parts and starts none of them.
package config
