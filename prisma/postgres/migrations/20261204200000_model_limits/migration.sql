-- CreateTable
CREATE TABLE "ModelLimit" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "match" TEXT NOT NULL,
    "maxConcurrent" INTEGER,
    "rpm" INTEGER,
    "tpm" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ModelLimit_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ModelLimit_kind_match_key" ON "ModelLimit"("kind", "match");
