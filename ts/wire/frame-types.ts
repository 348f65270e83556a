// Owns nothing but a view: the outer frame type bytes, which Rust defines once (crates/core/src/frame.rs)
// and ts/native/binding.ts loads from the binding. TS formats that start with a type byte (handshake
// frames, the probe) import them from here, beside the other wire formats. It must not restate the
// values; ts/wire/frame-types.test.ts and tests/binding.test.ts tie them to the wire numbers.
export {
  FRAME_TYPE_HANDSHAKE_INIT, FRAME_TYPE_HANDSHAKE_RESP, FRAME_TYPE_COOKIE, FRAME_TYPE_DATA, FRAME_TYPE_CONTROL, FRAME_TYPE_RELAY, FRAME_TYPE_PROBE,
} from '../native/binding.js';
