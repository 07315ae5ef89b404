public enum TokenGateVersion { public static let current = "0.1.0" }
