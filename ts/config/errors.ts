// Owns ringvpn's error type: every error the control plane reports carries a stable `code`.
// It must not format output for a terminal; the CLI decides how to print.

export type ErrorCode =
  | 'E_CONFIG'
  | 'E_CONFIG_READ'
  | 'E_KEY'
  | 'E_NOT_ROOT'
  | 'E_ENGINE'
  | 'E_CONTROL_SOCKET'
  | 'E_DAEMON_NOT_RUNNING'
  | 'E_PKI'
  | 'E_LAB';

export class RingvpnError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'RingvpnError';
  }
}
