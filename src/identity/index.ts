export { X_IDENTIFIER_TYPES, type XIdentifierType, type XUser } from './types.ts';
export {
  IDENTITY_REJECTION_CODES,
  type IdentityRejectionCode,
  type IdentityResult,
  type NormalizeOptions,
  type DeviceKind,
  type Normalized,
} from './identity-result.ts';
export { normalizeIdentity, isXIdentifierType } from './normalize-identity.ts';
export { sha256Hex, isSha256Hex } from './sha256-hex.ts';
export { normalizeEmail, MAX_EMAIL_LENGTH } from './normalize-email.ts';
export { normalizeDeviceId } from './normalize-device-id.ts';
export {
  normalizePhoneNumber,
  normalizePhoneNumberWithParser,
  isKnownPhoneRegion,
} from './normalize-phone-number.ts';
export { normalizeHandle } from './normalize-handle.ts';
export { normalizeTwitterId } from './normalize-twitter-id.ts';
export { normalizePartnerUserId, MAX_PARTNER_USER_ID_LENGTH } from './normalize-partner-user-id.ts';
