// Ties the frame type bytes read from the binding to the numbers docs/interfaces.md publishes.
import test from 'ava';
import * as ft from './frame-types.js';

test('frame type bytes come from the binding and match the published wire numbers', (t) => {
  t.deepEqual(
    [ft.FRAME_TYPE_HANDSHAKE_INIT, ft.FRAME_TYPE_HANDSHAKE_RESP, ft.FRAME_TYPE_COOKIE, ft.FRAME_TYPE_DATA,
      ft.FRAME_TYPE_CONTROL, ft.FRAME_TYPE_RELAY, ft.FRAME_TYPE_PROBE],
    [1, 2, 3, 4, 5, 6, 7],
  );
});
