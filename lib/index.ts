/**
 * dvd-rw: record the HTTP traffic of `fetch` and undici into a DVD file once, replay it offline
 * ever after. This module is the whole public surface.
 *
 * @module dvd-rw
 */
export {
  type Decision,
  DVD,
  type DVDSettings,
  MemoryStore,
  type RecordingReport,
  type RecordingStore,
  type RunReport,
  type UnusedRecording,
  UnusedRecordingsError,
} from './dvd.js'
export {
  CannotRecordError,
  DVDError,
  DVDFormatError,
  DVDLockedError,
  DVDNotFoundError,
  DVDSaveError,
  InvalidOptionError,
  type NearMiss,
  RequestOutsideTestError,
  UnmatchedRequestError,
  UnsupportedAgentError,
} from './errors.js'
export { BODY_PREFIX, type JsonWriteOptions, parseJson, serializeJson } from './formats/json.js'
export { DVDDispatcher } from './intercept.js'
export { type CloseOptions, type DVDFormat, DVDLoader, type InstallOptions, LoadedDVD } from './loader.js'
export {
  canonicalQuery,
  DEFAULT_MATCH_ON,
  type ExtraMatcher,
  MATCH_ON_WITHOUT_PORT,
  MATCHERS,
  type MatcherName,
  ParsedRequest,
  requestKey,
} from './matchers.js'
export type {
  BodyChunks,
  DVDRequest,
  DVDResponse,
  HeaderPair,
  Outcome,
  RecordedError,
  Recording,
} from './model.js'
export { isRecordedError } from './model.js'
export {
  type DVDOptions,
  INTERCEPT_TARGETS,
  type InterceptTarget,
  RECORD_MODE_ENV,
  RECORD_MODES,
  type RecordMode,
  resolveMode,
  type Timing,
  type WarningCode,
} from './options.js'
export { DEFAULT_SECRET_HEADERS, type ParameterFilter, REDACTED } from './redact.js'
export type { ResponseBodyRedaction } from './redact_body.js'
