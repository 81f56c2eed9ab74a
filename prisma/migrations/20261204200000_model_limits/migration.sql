-- CreateTable
CREATE TABLE "ModelLimit" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "match" TEXT NOT NULL,
    "maxConcurrent" INTEGER,
    "rpm" INTEGER,
    "tpm" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "ModelLimit_kind_match_key" ON "ModelLimit"("kind", "match");
